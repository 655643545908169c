"""Hub-ready exports: card metadata readable by huggingface_hub, several formats in one folder
loadable by `datasets`, re-export over every card version, push to a loopback Hub stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from steps_engine.cli import main
from steps_engine.export import export
from steps_engine.export.card import CARD_TITLE, read_card, size_category

from test_export import rec  # noqa: F401  (the same results records as the export tests)

huggingface_hub = pytest.importorskip("huggingface_hub")


@pytest.fixture()
def results(tmp_path):
    # consistent source_id types (record ids), as real runs on data with an id field have
    recs = [rec(i, 2 + i % 3) for i in range(7)] + [rec(7, 2, status="failed")]
    for r in recs:
        r["seeds"] = [{"skill": s, "source_id": f"r{i}-{j}"} for j, s in enumerate(r["skills"]) for i in [0]]
    p = tmp_path / "results.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def test_size_categories_follow_the_hub_buckets():
    assert [size_category(n) for n in (0, 999, 1000, 9999, 10_000, 2_500_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_card_metadata_reads_back_with_datasetcard(results, tmp_path):
    out = tmp_path / "d" / "sft.jsonl"
    export(results, fmt="chat", out=out, license="cc-by-4.0")
    data = huggingface_hub.DatasetCard.load(out.parent / "README.md").data
    assert data.license == "cc-by-4.0" and data.task_categories == ["text-generation"]
    assert data.size_categories == ["n<1K"] and {"synthetic", "steps-studio"} <= set(data.tags)
    assert data.configs == [{"config_name": "chat", "data_files": [{"split": "train", "path": "sft.jsonl"}],
                             "default": True}]


def test_several_formats_in_one_folder_give_one_card_and_load_dataset_reads_them(results, tmp_path):
    datasets = pytest.importorskip("datasets")
    d = tmp_path / "d"
    export(results, fmt="chat", out=d / "chat.jsonl")
    export(results, fmt="sharegpt", out=d / "sharegpt.jsonl")
    export(results, fmt="parquet", out=d / "data.parquet", license="mit")
    meta = huggingface_hub.DatasetCard.load(d / "README.md").data
    # datasets reads one file type per folder: the Parquet file is listed, not a config
    assert [c["config_name"] for c in meta.configs] == ["chat", "sharegpt"]
    assert meta.steps_studio_other_files == [{"format": "parquet", "path": "data.parquet"}]
    assert meta.license == "mit" and [c.get("default") for c in meta.configs] == [True, None]
    card = (d / "README.md").read_text()
    assert card.count("\n---\n") == 1 and "| sharegpt | `sharegpt.jsonl` |" in card and "`data.parquet`" in card
    cache = tmp_path / "hf-cache"
    default = datasets.load_dataset(str(d), split="train", cache_dir=str(cache))
    assert len(default) == 7 and "messages" in default.column_names  # the default config: chat
    sg = datasets.load_dataset(str(d), "sharegpt", split="train", cache_dir=str(cache))
    assert sg[0]["conversations"][0]["from"] == "human"
    pqd = datasets.load_dataset("parquet", data_files=str(d / "data.parquet"), split="train", cache_dir=str(cache))
    assert pqd.num_rows == 7
    # a folder of Parquet only: the parquet config loads by name
    export(results, fmt="parquet", out=tmp_path / "p" / "train.parquet")
    assert datasets.load_dataset(str(tmp_path / "p"), split="train", cache_dir=str(cache)).num_rows == 7
    # re-exporting a format replaces its config, never duplicates it; a card edited by hand keeps its edits
    text = (d / "README.md").read_text().replace("license: mit", "license: mit\nlanguage:\n- en")
    (d / "README.md").write_text(text)
    export(results, fmt="chat", out=d / "chat.jsonl")
    meta = huggingface_hub.DatasetCard.load(d / "README.md").data
    assert [c["config_name"] for c in meta.configs] == ["sharegpt", "chat"]
    assert [c.get("default") for c in meta.configs] == [None, True]
    assert meta.language == ["en"] and meta.license == "mit"
    # a config whose file is gone is dropped
    (d / "sharegpt.jsonl").unlink()
    export(results, fmt="alpaca", out=d / "alpaca.jsonl")
    names = [c["config_name"] for c in huggingface_hub.DatasetCard.load(d / "README.md").data.configs]
    assert names == ["chat", "alpaca"]


def test_parquet_keeps_every_provenance_field_of_the_jsonl(results, tmp_path):
    export(results, fmt="chat", out=tmp_path / "c.jsonl")
    export(results, fmt="parquet", out=tmp_path / "p" / "c.parquet")
    meta = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])["metadata"]
    cols = set(pq.read_table(tmp_path / "p" / "c.parquet").column_names)
    assert set(meta) <= cols, set(meta) - cols


def test_cards_of_every_version_are_recognised_and_foreign_readmes_are_left_alone(results, tmp_path):
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "README.md").write_text(CARD_TITLE + "old.jsonl\n\nan old card without front matter\n")
    assert read_card(v1 / "README.md")[0] == "ours"
    export(results, fmt="chat", out=v1 / "sft.jsonl")  # regenerated, now with front matter
    assert read_card(v1 / "README.md")[0] == "ours"
    # a card of ours made Hub-compliant by hand (body rewritten, our tag kept) is still ours
    text = (v1 / "README.md").read_text()
    front = text[: text.index("\n---\n") + 5]
    (v1 / "README.md").write_text(front + "\n# My own words\n")
    assert read_card(v1 / "README.md")[0] == "ours"
    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "README.md").write_text("---\nlicense: mit\n---\n# Someone else's dataset\n")
    with pytest.raises(ValueError, match="not a dataset card written by STEPS Studio"):
        export(results, fmt="chat", out=foreign / "sft.jsonl")
    assert (foreign / "README.md").read_text().endswith("# Someone else's dataset\n")


def test_push_to_hub_sends_the_card_and_listed_files_only(results, tmp_path, monkeypatch, capsys):
    from fake_hub_server import FakeHub

    d = tmp_path / "export"
    d.mkdir()
    (d / "results.jsonl.cache").write_text("must not be uploaded")
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_TOKEN", "hf_secret_token_123")
        assert main(["export", str(results), "--format", "chat", "--out", str(d / "chat.jsonl"), "--license", "cc-by-4.0"]) == 0
        code = main(["export", str(results), "--format", "parquet", "--out", str(d / "train.parquet"),
                     "--push-to-hub", "me/skills-sft", "--private", "--json"])
        out = capsys.readouterr().out
        assert code == 0, out
        repo = hub.repos["me/skills-sft"]
        assert repo["private"] and repo["commits"] == 1
        assert sorted(repo["files"]) == ["README.md", "chat.jsonl", "train.parquet"]
        for name, data in repo["files"].items():
            assert data == (d / name).read_bytes()
        assert json.loads(out.splitlines()[-1])["hub_commit"].startswith(hub.endpoint)
        assert all(auth == "Bearer hf_secret_token_123" for m, p, auth in hub.log if p != "/api/validate-yaml")
        # a second push is a new commit to the same repo (exist_ok)
        assert main(["export", str(results), "--format", "chat", "--out", str(d / "chat.jsonl"),
                     "--push-to-hub", "me/skills-sft"]) == 0
        assert hub.repos["me/skills-sft"]["commits"] == 2
    # the pushed folder is what `datasets` reads (Dataset.push_to_hub-compatible configs)
    datasets = pytest.importorskip("datasets")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, data in repo["files"].items():
        (mirror / name).write_bytes(data)
    assert len(datasets.load_dataset(str(mirror), split="train", cache_dir=str(tmp_path / "c"))) == 7


def test_a_failed_push_names_the_repo_and_never_the_token(results, tmp_path, monkeypatch, capsys):
    from fake_hub_server import FakeHub

    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_TOKEN", "hf_secret_token_123")
        code = main(["export", str(results), "--format", "chat", "--out", str(tmp_path / "x" / "c.jsonl"),
                     "--push-to-hub", "not/a/repo"])
    err = capsys.readouterr().err
    assert code == 2 and "repo must be" in err and "hf_secret" not in err
