"""Push an export folder to the Hugging Face Hub as a dataset repo.

`push_to_hub(folder, repo_id, private=False)` uploads the card (README.md) and exactly the
data files its `configs` list, nothing else from the folder (no results, caches or logs), in
one commit, creating the repo if needed. The token comes from `huggingface_hub`'s usual places
(`HF_TOKEN`, `hf auth login`); the endpoint from `endpoint` or `$HF_ENDPOINT`. Errors come
back as ValueError with the token scrubbed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from steps_engine.export.card import OTHER_FILES, read_card
from steps_engine.llm.base import scrub

__all__ = ["push_to_hub", "hub_files"]
log = logging.getLogger(__name__)


def hub_files(folder: str | Path) -> list[str]:
    """README.md plus every data file the folder's STEPS Studio card lists (configs and other files)."""
    folder = Path(folder)
    kind, meta = read_card(folder / "README.md")
    if kind != "ours" or not meta.get("configs"):
        raise ValueError(f"{folder}: no STEPS Studio dataset card with configs in README.md; run `steps export` first")
    files = ["README.md"]
    for cfg in meta["configs"]:
        for df in cfg.get("data_files") or []:
            rel = df.get("path") if isinstance(df, dict) else None
            if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ValueError(f"{folder / 'README.md'}: config {cfg.get('config_name')!r} has a bad path {rel!r}")
            if not (folder / rel).is_file():
                raise ValueError(f"{folder / 'README.md'}: config {cfg.get('config_name')!r} lists {rel}, which is missing")
            files.append(rel)
    for other in meta.get(OTHER_FILES) or []:
        rel = str(other.get("path", "")) if isinstance(other, dict) else ""
        if rel and not Path(rel).is_absolute() and ".." not in Path(rel).parts and (folder / rel).is_file():
            files.append(rel)
    return list(dict.fromkeys(files))


def push_to_hub(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
                endpoint: str | None = None, commit_message: str = "Upload dataset exported by STEPS Studio") -> str:
    """Create `repo_id` (a dataset repo) if needed and commit the card and its data files.
    Returns the commit URL."""
    if not isinstance(repo_id, str) or repo_id.count("/") > 1 or not repo_id.strip("/"):
        raise ValueError(f"repo must be 'name' or 'owner/name', got {repo_id!r}")
    files = hub_files(folder)
    log.info("pushing %d file(s) to the Hub dataset %s: %s", len(files), repo_id, ", ".join(files))
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    secret = token or os.environ.get("HF_TOKEN")
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                                 allow_patterns=files, commit_message=commit_message)
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ValueError(f"push to the Hub failed for {repo_id}: {scrub(str(exc).splitlines()[0], secret)}") from None
    return str(getattr(info, "commit_url", info))
