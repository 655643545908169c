"""Train on a STEPS Studio export with TRL's SFTTrainer, keeping the curriculum order.

    python docs/train_trl.py runs/x/sft/sft.jsonl --model Qwen/Qwen2.5-0.5B-Instruct --out runs/x/model
    python docs/train_trl.py runs/x/sft/sft.jsonl --dry-run     # build the dataset and config only

`steps export --curriculum` writes the records epoch after epoch (easy k first); the file *is*
the schedule. TRL's trainer samples at random by default, which loses it, so the config here
reads the file once, in order: `train_sampling_strategy="sequential"`, `shuffle_dataset=False`,
`num_train_epochs=1`, `packing=False`. Needs `pip install trl` (and a model it can load).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def build_dataset(path: str | Path):
    """The export as a `datasets.Dataset` of conversations (`messages`), in file order.
    Chat JSONL and Parquet exports both work; provenance columns are dropped."""
    from datasets import load_dataset

    path = Path(path)
    kind = "parquet" if path.suffix == ".parquet" else "json"
    ds = load_dataset(kind, data_files=str(path), split="train")
    if "messages" not in ds.column_names:
        raise ValueError(f"{path}: no 'messages' column; export with --format chat or parquet")
    epochs = None
    if "metadata" in ds.column_names:
        epochs = [m.get("curriculum_epoch") if isinstance(m, dict) else None for m in ds["metadata"]]
    elif "curriculum_epoch" in ds.column_names:
        epochs = ds["curriculum_epoch"]
    ds = ds.select_columns(["messages"])
    if epochs is not None and all(e is not None for e in epochs) and epochs != sorted(epochs):
        raise ValueError(f"{path}: records are not in curriculum order; export again with --curriculum")
    return ds


def sft_config(output_dir: str | Path, **overrides):
    """An `SFTConfig` that trains once through the file in order (see the module docstring)."""
    from trl import SFTConfig

    settings = dict(output_dir=str(output_dir), train_sampling_strategy="sequential", shuffle_dataset=False,
                    num_train_epochs=1, packing=False, report_to="none")
    settings.update(overrides)
    return SFTConfig(**settings)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("export", help="chat JSONL or Parquet from `steps export`")
    p.add_argument("--model", default=None, help="model name or folder for SFTTrainer")
    p.add_argument("--out", default="runs/trl", help="output_dir")
    p.add_argument("--dry-run", action="store_true", help="build the dataset and the config, do not train")
    args = p.parse_args(argv)
    ds = build_dataset(args.export)
    import torch

    config = sft_config(args.out, **({} if torch.cuda.is_available() else {"use_cpu": True}))
    print(f"{len(ds)} conversations; sampling {config.train_sampling_strategy}, "
          f"shuffle_dataset={config.shuffle_dataset}, epochs {config.num_train_epochs}")
    if args.dry_run:
        return 0
    if not args.model:
        p.error("--model is required to train")
    from trl import SFTTrainer

    SFTTrainer(model=args.model, args=config, train_dataset=ds).train()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
