"""Job data: JSONL files in trl's formats, checked before any model is loaded.

Formats (each either standard, with strings, or conversational, with lists of
{"role", "content"} messages; trl applies the chat template to the latter):
- preference: {"prompt", "chosen", "rejected"}, optional numeric "margin";
- sft: {"prompt", "completion"};
- prompt: {"prompt"}, for generation and policy evaluation.
Other columns ride along (generation passes them through, e.g. the platform's "prompt_id").
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from training.engine.jobs import EngineError

if TYPE_CHECKING:
    from datasets import Dataset

DataFormat = Literal["preference", "sft", "prompt"]
COLUMNS: dict[str, tuple[str, ...]] = {
    "preference": ("prompt", "chosen", "rejected"),
    "sft": ("prompt", "completion"),
    "prompt": ("prompt",),
}


def load_rows(path: str | Path, fmt: DataFormat, *, role: str = "training data") -> Dataset:
    """The file as a datasets.Dataset, after checking it holds usable rows of `fmt`."""
    from datasets import Dataset

    rows = read_jsonl(path, role=role)
    check_rows(rows, fmt, source=f"{role} {path}")
    try:
        return Dataset.from_list(rows)
    except Exception as exc:  # Arrow refuses rows whose columns change type
        raise EngineError(
            f"The {role} in {path} mixes value types in one column (for instance strings in some "
            f"rows and message lists in others): {exc}"
        ) from exc


def read_jsonl(path: str | Path, *, role: str = "data") -> list[dict[str, Any]]:
    """Rows of a JSONL file; blank lines are skipped, a bad line names its number."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"The {role} file {path} does not exist.")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise EngineError(f"Line {number} of {path} is not valid JSON: {exc}.") from exc
            if not isinstance(row, dict):
                raise EngineError(f"Line {number} of {path} is not a JSON object.")
            rows.append(row)
    return rows


def check_rows(rows: Sequence[dict[str, Any]], fmt: DataFormat, *, source: str) -> None:
    if not rows:
        raise EngineError(f"The dataset is empty: {source} has no rows.")
    needed = COLUMNS[fmt]
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise EngineError(
            f"The {source} lacks the column(s) {', '.join(repr(c) for c in missing)} that "
            f"{fmt} data needs (expected {', '.join(needed)}; found "
            f"{', '.join(sorted(rows[0])) or 'none'})."
        )
    conversational = is_conversational(rows[0])
    for number, row in enumerate(rows, start=1):
        for column in needed:
            problem = _value_problem(row.get(column, None), conversational)
            if problem:
                raise EngineError(f"Row {number} of the {source}: {column!r} {problem}.")
        if fmt == "preference" and "margin" in rows[0]:
            margin = row.get("margin")
            if not isinstance(margin, int | float) or isinstance(margin, bool):
                raise EngineError(
                    f"Row {number} of the {source}: 'margin' must be a number, got {margin!r}."
                )


def _value_problem(value: Any, conversational: bool) -> str | None:
    if value is None:
        return "is missing"
    if conversational:
        if not isinstance(value, list) or not value:
            return "must be a non-empty list of messages, like the first row's"
        for message in value:
            if not isinstance(message, dict) or not {"role", "content"} <= set(message):
                return 'must hold {"role", "content"} messages'
        return None
    if not isinstance(value, str):
        return "must be a string, like the first row's"
    return None


def is_conversational(row: dict[str, Any]) -> bool:
    """trl's rule: the prompt (or first response) is a list of role/content messages."""
    for key in ("prompt", "chosen", "completion"):
        value = row.get(key)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return "role" in value[0]
    return False


def split_by_prompt(
    rows: Sequence[dict[str, Any]], *, eval_fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, held-out): whole prompts go to the held-out side, so no evaluated prompt was
    trained on; about `eval_fraction` of the prompts, at least one when there are two or more."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(prompt_key(row.get("prompt")), []).append(row)
    keys = list(groups)
    if eval_fraction <= 0 or len(keys) < 2:
        return list(rows), []
    random.Random(seed).shuffle(keys)
    n_eval = min(len(keys) - 1, max(1, round(len(keys) * eval_fraction)))
    held = set(keys[:n_eval])
    train = [r for k in groups if k not in held for r in groups[k]]
    heldout = [r for k in groups if k in held for r in groups[k]]
    return train, heldout


def prompt_key(prompt: Any) -> str:
    return json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def unique_prompts(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first row of each distinct prompt, in file order."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = prompt_key(row.get("prompt"))
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A private temporary name: every process of a multi-process launch writes the same file.
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def training_splits(
    *,
    train_file: str | None,
    eval_file: str | None,
    fmt: DataFormat,
    eval_fraction: float,
    seed: int,
    heldout_path: Path,
) -> tuple[Dataset, Dataset | None, Path | None]:
    """(train, eval, held-out file). With no eval_file, `eval_fraction` of the prompts is held
    out and written to `heldout_path`, so a later evaluation job can use rows never trained on."""
    from datasets import Dataset

    if not train_file:
        raise EngineError("This job needs a train_file (JSONL training data).")
    rows = read_jsonl(train_file, role="training data")
    check_rows(rows, fmt, source=f"training data {train_file}")
    if eval_file:
        return load_rows(train_file, fmt), load_rows(eval_file, fmt, role="eval data"), None
    train_rows, held_rows = split_by_prompt(rows, eval_fraction=eval_fraction, seed=seed)
    if not held_rows:
        return _dataset(Dataset, train_rows, train_file), None, None
    write_jsonl(held_rows, heldout_path)
    return (
        _dataset(Dataset, train_rows, train_file),
        _dataset(Dataset, held_rows, train_file),
        heldout_path,
    )


def _dataset(cls: Any, rows: list[dict[str, Any]], source: str) -> Dataset:
    try:
        return cls.from_list(rows)
    except Exception as exc:
        raise EngineError(f"The data in {source} mixes value types in one column: {exc}") from exc
