"""Job data: trl formats read from JSONL, with errors that say what is wrong and where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.engine import synthetic
from training.engine.data import load_rows, split_by_prompt, training_splits
from training.engine.jobs import EngineError


def write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_standard_and_conversational_rows_load_unchanged(tmp_path: Path) -> None:
    rows = synthetic.preference_rows("train", n=4)
    dataset = load_rows(write(tmp_path / "conv.jsonl", rows), "preference")
    assert dataset[0]["chosen"] == rows[0]["chosen"]
    std = synthetic.preference_rows("train", n=4, conversational=False)
    assert load_rows(write(tmp_path / "std.jsonl", std), "preference")["prompt"] == [
        r["prompt"] for r in std
    ]


def test_an_empty_file_is_an_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(EngineError, match="The dataset is empty: .*empty.jsonl has no rows"):
        load_rows(tmp_path / "empty.jsonl", "preference")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = write(tmp_path / "sft.jsonl", synthetic.sft_rows("train", n=2))
    with pytest.raises(EngineError, match=r"lacks the column\(s\) 'chosen', 'rejected'.*found"):
        load_rows(path, "preference")


def test_a_bad_line_names_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": \n', encoding="utf-8")
    with pytest.raises(EngineError, match="Line 2 of .*bad.jsonl is not valid JSON"):
        load_rows(path, "prompt")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        load_rows(tmp_path / "nope.jsonl", "prompt")


def test_rows_that_switch_format_are_refused(tmp_path: Path) -> None:
    rows = synthetic.preference_rows("train", n=2)
    rows[1]["chosen"] = "plain text"
    with pytest.raises(EngineError, match="Row 2 .*'chosen' must be a non-empty list of messages"):
        load_rows(write(tmp_path / "mixed.jsonl", rows), "preference")


def test_a_margin_must_be_a_number(tmp_path: Path) -> None:
    rows = [{**r, "margin": 1.0} for r in synthetic.preference_rows("train", n=2)]
    rows[1]["margin"] = None
    with pytest.raises(EngineError, match="Row 2 .*'margin' must be a number"):
        load_rows(write(tmp_path / "margin.jsonl", rows), "preference")


def test_the_held_out_split_shares_no_prompt_with_training() -> None:
    rows = synthetic.preference_rows("train")
    rows += [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} for r in rows[:20]]
    train, held = split_by_prompt(rows, eval_fraction=0.2, seed=1)
    assert len(train) + len(held) == len(rows)
    prompts = {json.dumps(r["prompt"]) for r in train}
    assert held and not any(json.dumps(r["prompt"]) in prompts for r in held)
    assert split_by_prompt(rows, eval_fraction=0.2, seed=1) == (train, held)


def test_training_splits_write_the_held_out_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "train.jsonl", synthetic.preference_rows("train", n=40))
    train, held, heldout_file = training_splits(
        train_file=str(path),
        eval_file=None,
        fmt="preference",
        eval_fraction=0.25,
        seed=0,
        heldout_path=tmp_path / "heldout.jsonl",
    )
    assert len(train) + len(held) == 40
    assert heldout_file.read_text().count("\n") == len(held)
