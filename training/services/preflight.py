"""Configurations that cannot work, caught before a process starts, with what to change.

Cheap checks only (files, config.json, the machine): no torch. The engine checks again, and
anything it finds arrives as an "error" event on the run page all the same.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

from django.conf import settings

from annotate.errors import ValidationError
from training.models import (
    EVALUATION_KINDS,
    ONLINE_KINDS,
    PROMPT_KINDS,
    Method,
    ModelKind,
    ModelVersion,
    RunKind,
    TrainingRun,
)

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
LORA_RANK_KEYS = ("lora_r", "r", "lora_rank")
PEFT_RANKED = (Method.LORA, Method.QLORA)
SNAPSHOT_KINDS = {
    RunKind.REWARD_MODEL: ("preference",),
    RunKind.DPO: ("preference",),
    RunKind.SFT: ("sft", "preference"),
    RunKind.PPO: ("preference", "sft"),
    RunKind.GRPO: ("preference", "sft"),
    RunKind.RLOO: ("preference", "sft"),
    RunKind.REJECTION_SAMPLING: ("preference", "sft"),
}
NEEDS_REWARD_MODEL = (*PROMPT_KINDS, RunKind.EVALUATE_POLICY)
"""Online RL may take an AI judge instead (TrainingRun.reward_judge)."""


SEED_MAX = 2**32 - 1  # numpy's and torch's seed range


def qlora_missing() -> str | None:
    """Why QLoRA cannot run on this machine, or None."""
    if not has_cuda_gpu():
        return "no NVIDIA GPU"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "no bitsandbytes"
    return None


def request_check(*, method: str, seed: object, accelerate_config: str) -> None:
    """Refuse a run request that cannot work, before anything is created, exported or queued:
    ValidationError naming the field (a form error in the admin, 400 in the API, a CommandError
    from `manage.py train`)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValidationError(
            f"seed must be an integer in [0, {SEED_MAX}], got {seed!r}", field="seed"
        )
    if method == Method.QLORA and (why := qlora_missing()):
        raise ValidationError(
            f"QLoRA needs a CUDA GPU and the bitsandbytes package; this machine has {why}. "
            "Choose LoRA instead.",
            field="method",
        )
    chosen = accelerate_config or getattr(settings, "ACCELERATE_CONFIG", "")
    if chosen and not Path(chosen).expanduser().is_file():
        origin = "" if accelerate_config else " (the ACCELERATE_CONFIG setting)"
        raise ValidationError(
            f"accelerate config file {chosen}{origin} does not exist on this machine",
            field="accelerate_config",
        )


def model_config(version: ModelVersion) -> tuple[dict | None, str | None]:
    """(config.json as a dict, None) or (None, why the model cannot be found)."""
    path = version.base_model.strip()
    if not path:
        return None, f"Model version '{version}' has no base model path."
    directory = Path(path).expanduser()
    if directory.is_dir():
        config = directory / "config.json"
        if not config.is_file():
            return None, (
                f"Model path {directory} (model version '{version}') has no config.json: it is "
                "not a Hugging Face model directory."
            )
        return _read_json(config), None
    if path.startswith(("/", ".", "~")) or not HUB_ID.match(path):
        return None, (
            f"Model path {path} (model version '{version}') does not exist. Build the tiny model "
            "with `manage.py build_tiny_model --register`, or point the version at a model "
            "directory."
        )
    cached = _hub_cached_config(path)
    if cached is None and os.environ.get("HF_HUB_OFFLINE") == "1":
        return None, (
            f"Hub model {path} (model version '{version}') is not in the local Hugging Face "
            "cache and HF_HUB_OFFLINE=1 forbids downloading it."
        )
    return (_read_json(cached) if cached else None), None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _hub_cached_config(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    found = try_to_load_from_cache(repo_id, "config.json")
    return Path(found) if isinstance(found, str) else None


def hidden_size(config: dict | None) -> int | None:
    if not config:
        return None
    for key in ("hidden_size", "n_embd", "d_model"):
        if isinstance(config.get(key), int):
            return config[key]
    text = config.get("text_config")
    return hidden_size(text) if isinstance(text, dict) else None


def has_cuda_gpu() -> bool:
    """An NVIDIA device node or nvidia-smi, without importing torch."""
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def run_problems(run: TrainingRun) -> list[str]:
    """Every reason `run` cannot work as configured; empty when it may start."""
    problems: list[str] = []
    config, missing = model_config(run.base)
    if missing:
        problems.append(missing)
    if run.base.adapter_path and not Path(run.base.adapter_path).is_dir():
        problems.append(
            f"Adapter directory {run.base.adapter_path} (model version '{run.base}') does not exist."
        )
    problems += _data_problems(run)
    problems += _method_problems(run, config)
    problems += _model_role_problems(run)
    return problems


def _data_problems(run: TrainingRun) -> list[str]:
    snapshot = run.snapshot
    if snapshot is None:
        if run.kind in EVALUATION_KINDS and run.parent_run_id:
            return []
        if run.kind in PROMPT_KINDS and run.project_id:
            if not run.project.prompts.exists():
                return [f"Project '{run.project}' has no prompts to sample from."]
            return []
        return [f"A {run.get_kind_display()} run needs a dataset snapshot; none was chosen."]
    allowed = SNAPSHOT_KINDS.get(run.kind)
    if allowed and snapshot.kind not in allowed:
        return [
            f"Dataset snapshot '{snapshot.name}' holds {snapshot.kind} rows; a "
            f"{run.get_kind_display()} run needs {' or '.join(allowed)} rows."
        ]
    jsonl = Path(snapshot.path) / (snapshot.files or {}).get("jsonl", "data.jsonl")
    if snapshot.row_count == 0:
        return [
            f"Dataset snapshot '{snapshot.name}' is empty (0 rows): export votes first, or choose "
            "another snapshot."
        ]
    if not jsonl.is_file():
        return [f"Dataset snapshot '{snapshot.name}': its data file {jsonl} is missing."]
    if jsonl.stat().st_size == 0:
        return [f"Dataset snapshot '{snapshot.name}' is empty: {jsonl} has no rows."]
    return []


def _method_problems(run: TrainingRun, config: dict | None) -> list[str]:
    problems = []
    if run.method == Method.QLORA and (why := qlora_missing()):
        problems.append(
            f"QLoRA needs a CUDA GPU and the bitsandbytes package; this machine has {why}. "
            "Choose LoRA instead."
        )
    if run.method in PEFT_RANKED:
        rank = next(
            (run.hyperparameters[k] for k in LORA_RANK_KEYS if k in run.hyperparameters), None
        )
        width = hidden_size(config)
        if isinstance(rank, int) and width and rank > width:
            problems.append(
                f"LoRA rank {rank} is larger than the hidden size {width} of {run.base.base_model}; "
                f"choose a rank of at most {width} (8 to 64 is usual)."
            )
        if isinstance(rank, int) and rank < 1:
            problems.append(f"LoRA rank must be at least 1, got {rank}.")
    return problems


def _model_role_problems(run: TrainingRun) -> list[str]:
    problems = []
    if (
        run.kind == RunKind.REJECTION_SAMPLING
        and run.project_id is None
        and (run.snapshot is None or run.snapshot.project_id is None)
    ):
        problems.append(
            "A rejection sampling run records its datasets in a project: start it on a project "
            "or on one of its snapshots."
        )
    if run.kind == RunKind.EVALUATE_REWARD_MODEL and run.base.kind != ModelKind.REWARD_MODEL:
        problems.append(f"Model version '{run.base}' is not a reward model.")
    if run.reward_judge_id is not None:
        from judges.services.rewarding import reward_judge_problem

        if run.kind not in ONLINE_KINDS:
            problems.append(
                f"A judge rewards PPO, GRPO or RLOO runs, not a {run.get_kind_display()} run."
            )
        elif problem := reward_judge_problem(run.reward_judge):
            problems.append(problem)
    judged = run.reward_judge_id is not None and run.kind in ONLINE_KINDS
    if run.kind in NEEDS_REWARD_MODEL:
        if run.reward_model is None:
            if not judged:
                problems.append(
                    f"A {run.get_kind_display()} run needs a reward model to score with"
                    + (" (or a judge)." if run.kind in ONLINE_KINDS else ".")
                )
        elif run.reward_model.kind != ModelKind.REWARD_MODEL:
            problems.append(f"Model version '{run.reward_model}' is not a reward model.")
        else:
            _, missing = model_config(run.reward_model)
            if missing:
                problems.append(missing)
    return problems
