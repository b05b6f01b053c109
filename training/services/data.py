"""A run's data: its snapshot's rows split by prompt into train.jsonl and eval.jsonl.

The split is made once per run, in the run's directory, before the engine starts, so the held-out
rows are known: evaluation of the model it produces uses exactly those, and every pair of one
prompt lands on the same side (a model is never scored on a prompt it trained on).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from annotate.models import DatasetSnapshot, Project
from annotate.services.export.rows import clean_messages
from training.services.execution import JobConfigError

TRAIN_FILE = "train.jsonl"
EVAL_FILE = "eval.jsonl"


def snapshot_jsonl(snapshot: DatasetSnapshot) -> Path:
    return Path(snapshot.path) / (snapshot.files or {}).get("jsonl", "data.jsonl")


def iter_rows(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise JobConfigError(f"{path} line {number} is not JSON: {exc}") from exc


def as_sft(row: dict) -> dict:
    """Preference rows train SFT on their chosen response."""
    if "completion" in row:
        return row
    return {"prompt": row["prompt"], "completion": row["chosen"]}


def split_by_prompt(
    rows: list[dict], *, eval_fraction: float, seed: int
) -> tuple[list[dict], list[dict]]:
    """(train, eval): whole prompts go to eval, about `eval_fraction` of them, at least one."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        key = json.dumps(row.get("prompt"), sort_keys=True, ensure_ascii=False)
        groups.setdefault(key, []).append(row)
    keys = list(groups)
    if eval_fraction <= 0 or len(keys) < 2:
        return rows, []
    random.Random(seed).shuffle(keys)
    n_eval = min(len(keys) - 1, max(1, round(len(keys) * eval_fraction)))
    held_out = set(keys[:n_eval])
    train = [r for k in groups if k not in held_out for r in groups[k]]
    held = [r for k in groups if k in held_out for r in groups[k]]
    return train, held


def write_jsonl(rows: list[dict], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def prepare_split(
    *,
    snapshot: DatasetSnapshot,
    out_dir: Path,
    eval_fraction: float,
    seed: int,
    sft: bool = False,
) -> tuple[Path, Path | None]:
    """train.jsonl and eval.jsonl in out_dir; kept as they are when a resumed run has them."""
    train_path, eval_path = out_dir / TRAIN_FILE, out_dir / EVAL_FILE
    if train_path.exists():
        return train_path, (eval_path if eval_path.exists() else None)
    source = snapshot_jsonl(snapshot)
    if not source.is_file():
        raise JobConfigError(f"Dataset snapshot '{snapshot.name}': {source} is missing.")
    rows = [as_sft(r) if sft else r for r in iter_rows(source)]
    if not rows:
        raise JobConfigError(f"Dataset snapshot '{snapshot.name}' is empty: {source} has no rows.")
    train, held = split_by_prompt(rows, eval_fraction=eval_fraction, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if held:  # before train.jsonl, whose presence means "split done"
        write_jsonl(held, eval_path)
    write_jsonl(train, train_path)
    return train_path, (eval_path if held else None)


def prepare_prompt_split(
    *, project: Project, out_dir: Path, eval_fraction: float, seed: int
) -> tuple[Path, Path | None]:
    """Like prepare_split, over the project's prompts: {"prompt_id", "prompt": messages} rows."""
    train_path, eval_path = out_dir / TRAIN_FILE, out_dir / EVAL_FILE
    if train_path.exists():
        return train_path, (eval_path if eval_path.exists() else None)
    rows = [
        {"prompt_id": pk, "prompt": clean_messages(messages)}
        for pk, messages in project.prompts.order_by("pk").values_list("pk", "messages")
    ]
    if not rows:
        raise JobConfigError(f"Project '{project}' has no prompts to sample from.")
    train, held = split_by_prompt(rows, eval_fraction=eval_fraction, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if held:
        write_jsonl(held, eval_path)
    write_jsonl(train, train_path)
    return train_path, (eval_path if held else None)
