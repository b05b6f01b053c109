"""A transformers TrainerCallback that turns a Trainer's life into events, and stops it on request.

Progress goes out as events (start, log, eval, checkpoint). A cancel file in out_dir, SIGTERM or
SIGINT makes the trainer save a checkpoint at the end of the current step and stop, so the job can
be resumed later from exactly there.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from training.engine.jobs import CANCEL_FILE

Emit = Callable[..., None]
PREFIX = "checkpoint-"


class EventCallback(TrainerCallback):
    def __init__(self, emit: Emit, *, out_dir: Path, kind: str) -> None:
        self.emit = emit
        self.cancel_file = Path(out_dir) / CANCEL_FILE
        self.kind = kind
        self.cancelled = False
        self.stopped_at: int | None = None
        self._signalled = False
        self._started = time.monotonic()
        self._first_step = 0
        self._previous: dict[int, Any] = {}

    # -- signals: only while training, so a job outside train() dies on SIGTERM as usual --
    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signalled = True

    def _install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread (a library caller): the cancel file suffices
                pass

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def cancel_requested(self) -> bool:
        return self._signalled or self.cancel_file.exists()

    # -- TrainerCallback --
    def on_train_begin(self, args, state, control, **kwargs):
        self._install()
        self._started = time.monotonic()
        self._first_step = state.global_step
        self.emit("start", kind=self.kind, total_steps=state.max_steps, step=state.global_step)
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = True  # the last step always leaves a checkpoint to resume from
        if self.cancel_requested():
            self.cancelled = True
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        metrics = _numbers(logs or {})
        if not metrics:
            return control
        if any(name.startswith("eval_") for name in metrics):
            evaluated = {k.removeprefix("eval_"): v for k, v in metrics.items()}
            self.emit("eval", step=state.global_step, metrics=evaluated)
            return control
        elapsed = time.monotonic() - self._started
        done = state.global_step - self._first_step
        eta = elapsed / done * (state.max_steps - state.global_step) if done > 0 else None
        self.emit(
            "log",
            step=state.global_step,
            total_steps=state.max_steps,
            metrics=metrics,
            elapsed_s=round(elapsed, 3),
            eta_s=None if eta is None else round(eta, 1),
        )
        return control

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"{PREFIX}{state.global_step}"
        self.emit("checkpoint", step=state.global_step, path=str(path))
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._restore()
        return control


def _numbers(logs: dict[str, Any]) -> dict[str, float]:
    kept = {}
    for name, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        kept[name] = float(value) if math.isfinite(value) else str(value)
    return kept


def checkpoints_dir(out_dir: Path) -> Path:
    return Path(out_dir) / "checkpoints"


def last_checkpoint(out_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    directory = checkpoints_dir(out_dir)
    return get_last_checkpoint(str(directory)) if directory.is_dir() else None


def fit(trainer: Any, callback: EventCallback, *, out_dir: Path, resume: bool) -> dict[str, float]:
    """trainer.train(), resumed from out_dir's last checkpoint when asked; raises JobCancelled
    when a cancel request stopped it. Returns the run's train metrics, tokens/s included."""
    from transformers import PrinterCallback

    from training.engine.jobs import JobCancelled

    trainer.remove_callback(PrinterCallback)  # our events already say it, as JSON
    checkpoint = last_checkpoint(out_dir) if resume else None
    try:
        output = trainer.train(resume_from_checkpoint=checkpoint)
    finally:
        callback._restore()
    if callback.cancelled:
        step = trainer.state.global_step
        raise JobCancelled(step, str(checkpoints_dir(out_dir) / f"{PREFIX}{step}"))
    metrics = {k: float(v) for k, v in output.metrics.items() if isinstance(v, int | float)}
    metrics["global_step"] = float(trainer.state.global_step)
    tokens = getattr(trainer, "_total_train_tokens", 0)  # trl's count, for this process only
    runtime = metrics.get("train_runtime") or 0.0
    if tokens and runtime > 0:
        metrics["train_tokens"] = float(tokens)
        metrics["train_tokens_per_second"] = float(tokens) / runtime
    return metrics


def heldout_metrics(trainer: Any) -> dict[str, float]:
    """trainer.evaluate() on its eval set, as "heldout_<name>" floats (timings left out)."""
    return {
        "heldout_" + k.removeprefix("eval_"): float(v)
        for k, v in trainer.evaluate().items()
        if isinstance(v, int | float) and not k.endswith(("_runtime", "_per_second"))
    }


def quiet() -> None:
    """No progress bars in the child's log: events carry the progress."""
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    # Renames inside transformers 5 that trl still calls by their old names: nothing to act on.
    warnings.filterwarnings("ignore", message=".*deprecated and will be removed in v6.*")
