"""The TRL recipe (docs/train_trl.py): the dataset TRL gets keeps the curriculum order and the
trainer's own sampler for that config reads it in order. No model is built, nothing trains."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from steps_engine.export import export
from test_export import rec

ROOT = Path(__file__).resolve().parents[1]
datasets = pytest.importorskip("datasets")
trl = pytest.importorskip("trl")


def recipe():
    spec = importlib.util.spec_from_file_location("train_trl", ROOT / "docs" / "train_trl.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def curriculum_export(tmp_path):
    recs = [rec(i, 2 + i % 3) for i in range(30)]
    for r in recs:
        r["seeds"] = [{"skill": s, "source_id": f"x{j}"} for j, s in enumerate(r["skills"])]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "sft" / "sft.jsonl"
    export(results, fmt="chat", out=out, curriculum="steps3", seed=1)
    return out


def test_the_trainer_dataset_keeps_the_curriculum_order(curriculum_export, tmp_path):
    from transformers import Trainer
    from trl.data_utils import is_conversational

    r = recipe()
    ds = r.build_dataset(curriculum_export)
    rows = [json.loads(l) for l in curriculum_export.read_text().splitlines()]
    assert len(ds) == len(rows) and ds.column_names == ["messages"]
    assert is_conversational(ds[0])
    assert [x["messages"] for x in ds] == [row["messages"] for row in rows]  # file order, untouched
    config = r.sft_config(tmp_path / "out", use_cpu=True)  # this machine has no GPU
    assert (config.train_sampling_strategy, config.shuffle_dataset, config.num_train_epochs, config.packing) == (
        "sequential", False, 1, False)
    # the trainer's own sampler choice for this config, called without building a model
    sampler = Trainer._get_train_sampler(SimpleNamespace(args=config, train_dataset=ds), ds)
    order = list(sampler)
    assert order == list(range(len(ds)))
    epochs = [rows[i]["metadata"]["curriculum_epoch"] for i in order]
    assert epochs == sorted(epochs) and set(epochs) == {1, 2, 3}
    # TRL's default would sample at random and lose the curriculum: the reason for the recipe
    default = trl.SFTConfig(output_dir=str(tmp_path / "d"), report_to="none", use_cpu=True)
    assert type(Trainer._get_train_sampler(SimpleNamespace(args=default, train_dataset=ds), ds)).__name__ == "RandomSampler"


def test_parquet_exports_work_and_shuffled_files_are_refused(curriculum_export, tmp_path):
    r = recipe()
    results = tmp_path / "results.jsonl"
    pq = tmp_path / "pq" / "train.parquet"
    export(results, fmt="parquet", out=pq, curriculum="steps3", seed=1)
    assert len(r.build_dataset(pq)) == 30
    rows = curriculum_export.read_text().splitlines()
    bad = tmp_path / "shuffled.jsonl"
    bad.write_text("\n".join(rows[::-1]) + "\n")
    with pytest.raises(ValueError, match="not in curriculum order"):
        r.build_dataset(bad)
    assert r.main([str(curriculum_export), "--dry-run", "--out", str(tmp_path / "o")]) == 0
