"""Run one job: check the spec, dispatch on its kind, write the "done" (or error) event.

``run_job`` raises on failure (library callers handle it); ``execute`` turns every outcome into
events and an exit code, as the CLI child process needs.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from training.engine import models
from training.engine.config import config_for
from training.engine.jobs import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EngineError,
    EventWriter,
    JobCancelled,
    JobSpec,
)

logger = logging.getLogger(__name__)

# kind -> module whose run(spec, config, emit) does the work
HANDLERS = {
    "reward_model": "training.engine.reward",
    "sft": "training.engine.sft",
    "dpo": "training.engine.dpo",
    "ppo": "training.engine.ppo",
    "grpo": "training.engine.online",
    "rloo": "training.engine.online",
    "rejection_sampling": "training.engine.rejection",
    "generate": "training.engine.generate",
    "evaluate_reward_model": "training.engine.evaluate",
    "evaluate_policy": "training.engine.evaluate",
}
PLANNED: dict[str, str] = {}  # kind -> display name of kinds announced but not built yet
TRAINING_KINDS = ("reward_model", "sft", "dpo", "ppo", "grpo", "rloo")
NEEDS_DATA = {
    "reward_model": ("train_file",),
    "sft": ("train_file",),
    "dpo": ("train_file",),
    "ppo": ("train_file",),
    "grpo": ("train_file",),
    "rloo": ("train_file",),
    "rejection_sampling": ("train_file", "reward_model"),
    "generate": ("train_file",),
}
NEEDS_EVAL_DATA = ("evaluate_reward_model", "evaluate_policy")
ONLINE_KINDS = ("ppo", "grpo", "rloo")  # rewarded by a reward_model or a reward_judge


def run_job(spec: JobSpec, emit: EventWriter) -> dict[str, Any]:
    """Run the job; returns {"outputs", "metrics"} after writing them as the "done" event."""
    config = check_spec(spec)
    from training.engine.callbacks import quiet

    quiet()
    module = importlib.import_module(HANDLERS[spec.kind])
    runner = getattr(module, "run_" + spec.kind, None) or module.run
    result = runner(spec, config, emit)
    emit("done", **result)
    return result


def check_spec(spec: JobSpec) -> Any:
    """The kind's config, after the checks that need no model or data loaded."""
    if spec.kind in PLANNED:
        raise EngineError(
            f"{PLANNED[spec.kind]} ({spec.kind}) is not implemented in the engine yet: it comes "
            "with online RL (issue 6)."
        )
    if spec.kind not in HANDLERS:
        raise EngineError(
            f"Unknown job kind {spec.kind!r}; known: {', '.join([*HANDLERS, *PLANNED])}."
        )
    if spec.model is None:
        raise EngineError(f"A {spec.kind} job needs a model.")
    for name in NEEDS_DATA.get(spec.kind, ()):
        if not getattr(spec, name):
            raise EngineError(f"A {spec.kind} job needs a {name}.")
    if spec.kind in ONLINE_KINDS and spec.reward_model is None and spec.reward_judge is None:
        raise EngineError(
            f"A {spec.kind} job needs a reward_model or a reward_judge to score the completions."
        )
    if spec.reward_judge is not None and spec.kind not in ONLINE_KINDS:
        raise EngineError(
            f"A reward_judge only rewards online RL (ppo, grpo, rloo), not {spec.kind}."
        )
    if spec.kind in NEEDS_EVAL_DATA and not (spec.eval_file or spec.train_file):
        raise EngineError(f"A {spec.kind} job needs an eval_file (held-out rows).")
    if spec.kind == "evaluate_policy" and spec.reward_model is None:
        raise EngineError("An evaluate_policy job needs a reward_model to judge the completions.")
    if spec.method != "full" and spec.kind not in TRAINING_KINDS:
        raise EngineError(
            f"method {spec.method!r} only applies to training jobs, not to {spec.kind}."
        )
    config = config_for(spec.kind, spec.hyperparameters)
    _check_paths(spec)
    if spec.kind in TRAINING_KINDS:
        models.check_method(
            spec.method, config, models.peek_hidden_size(spec.model), spec.model.path
        )
    return config


def _check_paths(spec: JobSpec) -> None:
    """Models and files exist: seconds before torch would be imported to find out."""
    refs = (("model", spec.model), ("reference model", spec.reference))
    for role, ref in (*refs, ("reward model", spec.reward_model)):
        if ref is not None:
            models.resolve(ref.path, role)
            if ref.adapter_path:
                models.adapter_type(ref.adapter_path)
    for role, path in (("train_file", spec.train_file), ("eval_file", spec.eval_file)):
        if path and not Path(path).is_file():
            raise EngineError(f"The job's {role} {path} does not exist.")
        if path and not _has_a_row(Path(path)):
            raise EngineError(f"The dataset is empty: the job's {role} {path} has no rows.")


def _has_a_row(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as fh:
        return any(line.strip() for line in fh)


def execute(spec: JobSpec, emit: EventWriter) -> int:
    """Run the job and report every ending as events; returns the process exit code."""
    try:
        run_job(spec, emit)
    except EngineError as exc:
        emit("error", message=str(exc))
        return EXIT_FAILED
    except JobCancelled as exc:
        emit("cancelled", step=exc.step, checkpoint=exc.checkpoint)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        emit("error", message="Interrupted before training started.")
        return EXIT_FAILED
    except Exception as exc:  # anything else is a bug or an environment problem: keep the trace
        traceback.print_exc(file=sys.stderr)
        emit("error", message=f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED
    return EXIT_OK


def load_spec(path: Path) -> JobSpec:
    try:
        return JobSpec.from_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise EngineError(f"Cannot read the job spec {path}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise EngineError(f"The job spec {path} is not a valid JobSpec: {exc}") from exc
