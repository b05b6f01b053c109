"""One engine job (a TrainingRun or GenerationJob row) from claim to final status.

A worker claims a queued job (queued -> running, attempts + 1), starts the engine child, copies
its events into the row while it runs, and records the outcome. Every write after the claim is
guarded by (status=running, attempts=<this attempt>): once the sweep has given the job up or
requeued it, a late worker can no longer overwrite what the sweep decided.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from training.engine.jobs import EXIT_CANCELLED, Event, JobSpec, clear_cancel
from training.models import EngineJob, JobStatus
from training.services import launcher

logger = logging.getLogger(__name__)

# Fields a tick may change; a job kind adds its own through Recorder.fields.
TICK_FIELDS = (
    "step",
    "total_steps",
    "eta_seconds",
    "events_offset",
    "log_tail",
    "outputs",
    "warnings",
    "heartbeat_at",
)


class JobConfigError(Exception):
    """The job cannot start as configured; the message says what to change."""


def setting(name: str, default: float) -> float:
    """settings.<name>, else the environment's PS_<name> (a worker started elsewhere), else default."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(f"PS_{name}")
    return float(default if value in (None, "") else value)


def heartbeat_every() -> float:
    return setting("TRAINING_HEARTBEAT_EVERY", 5.0)


def heartbeat_timeout() -> float:
    """Seconds without a heartbeat after which the sweep takes a running job for dead."""
    return setting("TRAINING_HEARTBEAT_TIMEOUT", 60.0)


def poll_interval() -> float:
    """Seconds between two reads of the engine's events."""
    return setting("TRAINING_POLL_INTERVAL", 1.0)


def stop_grace() -> float:
    """Seconds a cancelled engine gets to checkpoint and exit before SIGKILL."""
    return setting("TRAINING_STOP_GRACE", 30.0)


def owned(job: EngineJob) -> QuerySet:
    """The job's row, as long as this attempt still owns it."""
    return type(job).objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)


def job_claim(model: type[EngineJob], pk: int) -> EngineJob | None:
    """queued -> running for this worker; None when the job is not queued (cancelled, taken)."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        worker_pid=os.getpid(),
        host=socket.gethostname(),
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now)),
        finished_at=None,
        pid=None,
        error="",
    )
    return model.objects.get(pk=pk) if claimed else None


def job_control(job: EngineJob) -> str:
    """What the job's row says now: "continue", "cancel" or "superseded" (not ours anymore)."""
    row = (
        type(job)
        .objects.filter(pk=job.pk)
        .values_list("status", "attempts", "cancel_requested")
        .first()
    )
    if row is None:
        return "cancel"
    status, attempts, cancel = row
    if status != JobStatus.RUNNING or attempts != job.attempts:
        return "superseded"
    return "cancel" if cancel else "continue"


def job_finish(
    job: EngineJob,
    *,
    status: str,
    error: str = "",
    fields: tuple[str, ...] = (),
    on_commit: Callable[[], None] | None = None,
) -> bool:
    """Record the outcome; `on_commit` runs in the same transaction (a failure rolls it back)."""
    now = timezone.now()
    values = {f: getattr(job, f) for f in fields}
    values.update(
        status=status, error=error, finished_at=now, heartbeat_at=now, pid=None, eta_seconds=None
    )
    with transaction.atomic():
        done = owned(job).update(**values)
        if done and on_commit is not None:
            on_commit()
    if done:
        job.status, job.error, job.finished_at = status, error, now
    return bool(done)


class Recorder:
    """Applies the engine's events to a job row; subclasses record what their kind keeps."""

    fields: tuple[str, ...] = ()

    def __init__(self, job: EngineJob) -> None:
        self.job = job
        self.child_env: dict[str, str] = {}  # secrets the child needs, never in the job file
        self.done: dict | None = None
        self.error: str | None = None
        self.cancelled: dict | None = None
        self.pending = False  # events applied in memory, not yet written
        self._origin: tuple[float, int] | None = None  # (time, step) this attempt started at

    def apply(self, event: Event) -> None:
        job, data = self.job, event.data
        self.pending = True
        if event.event == "start":
            job.total_steps = int(data.get("total_steps") or job.total_steps or 0)
            job.step = int(data.get("step") or 0)
            self._origin = (event.time, job.step)
            self.on_start(event)
        elif event.event == "log":
            self._progress(event)
            self.on_point("log", event)
        elif event.event == "eval":
            self.on_point("eval", event)
        elif event.event == "checkpoint":
            self.on_checkpoint(event)
        elif event.event == "warning":
            job.warnings = [*job.warnings, str(data.get("message", ""))]
        elif event.event == "done":
            self.done = data
            job.outputs = data.get("outputs") or {}
            self.on_done(event)
        elif event.event == "error":
            self.error = str(data.get("message") or "The engine reported an error.")
        elif event.event == "cancelled":
            self.cancelled = data
            if data.get("checkpoint"):
                self.on_checkpoint(
                    Event("checkpoint", {"step": data.get("step"), "path": data["checkpoint"]})
                )

    def _progress(self, event: Event) -> None:
        job, data = self.job, event.data
        job.step = int(data.get("step", job.step))
        job.total_steps = int(data.get("total_steps") or job.total_steps or 0)
        if "eta_s" in data:  # the engine's own estimate
            job.eta_seconds = data["eta_s"]
            return
        if self._origin is None:
            self._origin = (event.time, job.step)
            return
        started, first_step = self._origin
        if job.step > first_step and job.total_steps:
            per_step = (event.time - started) / (job.step - first_step)
            job.eta_seconds = round(per_step * max(0, job.total_steps - job.step), 1)

    def on_start(self, event: Event) -> None:
        """The engine (re)started at event.data["step"]."""

    def on_point(self, kind: str, event: Event) -> None:
        """A log or eval event: kinds with a metric history store it."""

    def on_checkpoint(self, event: Event) -> None:
        """A checkpoint was saved: kinds that resume remember it."""

    def on_done(self, event: Event) -> None:
        """The engine's result: kinds keep its metrics."""

    def flush(self) -> None:
        """Write what was buffered since the last tick (inside the tick's transaction)."""


@dataclass
class ChildOutcome:
    status: str
    error: str
    superseded: bool = False


def job_run_child(*, job: EngineJob, spec: JobSpec, recorder: Recorder) -> ChildOutcome:
    """Start the engine on `spec`, record its events until it exits, say how it ended."""
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_cancel(out_dir)  # left by an earlier attempt that was cancelled
    spec_path = spec.write(out_dir / launcher.SPEC_FILE)
    command = launcher.engine_command(
        spec_path, accelerate_config=launcher.accelerate_config_for(job.accelerate_config)
    )
    process = launcher.launch(command, out_dir=out_dir, env=recorder.child_env)
    job.pid = process.pid
    owned(job).update(pid=process.pid, heartbeat_at=timezone.now())
    ticker = _Ticker(job, recorder)
    try:
        exit_ = launcher.supervise(
            process,
            out_dir=out_dir,
            offset=job.events_offset,
            tick=ticker,
            interval=poll_interval(),
            grace=stop_grace(),
        )
    except BaseException:
        if process.poll() is None:
            launcher.stop(process, grace=stop_grace())
        raise
    job.log_tail = launcher.log_tail(out_dir)
    if exit_.superseded:
        return ChildOutcome(JobStatus.FAILED, "", superseded=True)
    if exit_.cancelled:
        return ChildOutcome(JobStatus.CANCELLED, "")
    if recorder.cancelled is not None and exit_.returncode == EXIT_CANCELLED:
        job.warnings = [
            *job.warnings,
            f"The engine was stopped from outside the platform (a signal or a cancel file) at "
            f"step {recorder.cancelled.get('step')}; resume the job to continue from its "
            "checkpoint.",
        ]
        return ChildOutcome(JobStatus.CANCELLED, "")
    if exit_.returncode == 0 and recorder.done is not None:
        return ChildOutcome(JobStatus.SUCCEEDED, "")
    if recorder.error:
        return ChildOutcome(JobStatus.FAILED, recorder.error)
    if exit_.returncode == 0:
        return ChildOutcome(JobStatus.FAILED, "The engine exited without reporting a result.")
    message = launcher.describe_exit(exit_.returncode)
    last = launcher.log_tail(out_dir, lines=8)
    return ChildOutcome(JobStatus.FAILED, f"{message}\nLast output:\n{last}" if last else message)


class _Ticker:
    """Called by the supervisor about once a second: record, heartbeat, read cancel."""

    def __init__(self, job: EngineJob, recorder: Recorder) -> None:
        self.job, self.recorder = job, recorder
        self.last_write = 0.0

    def __call__(self, events: list[Event], offset: int, bad: list[str]) -> str:
        job = self.job
        for event in events:
            self.recorder.apply(event)
        for line in bad:
            logger.warning("job %s: unreadable event line %r", job.pk, line)
        job.events_offset = offset
        try:
            return self._write()
        except DatabaseError:
            # A locked or restarting database must not kill hours of training: what was read
            # stays in memory (and the points buffered) and is written at the next tick.
            logger.warning("job %s: database unavailable, retrying", job.pk, exc_info=True)
            if not connection.in_atomic_block:
                connection.close()  # a broken connection reconnects on the next query
            return "continue"

    def _write(self) -> str:
        job = self.job
        now = time.monotonic()
        if self.recorder.pending or now - self.last_write >= heartbeat_every():
            job.heartbeat_at = timezone.now()
            job.log_tail = launcher.log_tail(Path(job.out_dir))
            fields = TICK_FIELDS + self.recorder.fields
            with transaction.atomic():
                if not owned(job).update(**{f: getattr(job, f) for f in fields}):
                    return "superseded"
                self.recorder.flush()
            self.recorder.pending = False
            self.last_write = now
        return job_control(job)


def job_execute(
    model: type[EngineJob],
    pk: int,
    *,
    prepare: Callable[[EngineJob], tuple[JobSpec, Recorder]],
    on_success: Callable[[EngineJob, Recorder], None] | None = None,
) -> str:
    """The whole life of one attempt of an engine job; returns its final status."""
    job = job_claim(model, pk)
    if job is None:
        return "skipped"
    try:
        try:
            spec, recorder = prepare(job)
        except JobConfigError as exc:
            job_finish(job, status=JobStatus.FAILED, error=str(exc))
            return JobStatus.FAILED
        outcome = job_run_child(job=job, spec=spec, recorder=recorder)
        if outcome.superseded:
            return "superseded"
        fields = ("log_tail", *TICK_FIELDS, *recorder.fields)
        if outcome.status == JobStatus.SUCCEEDED and on_success is not None:

            def succeed() -> None:
                recorder.flush()
                on_success(job, recorder)

            try:
                job_finish(job, status=JobStatus.SUCCEEDED, fields=fields, on_commit=succeed)
                return JobStatus.SUCCEEDED
            except Exception as exc:
                logger.exception("job %s: recording the result failed", job.pk)
                outcome = ChildOutcome(
                    JobStatus.FAILED, f"The engine finished, but recording its result failed: {exc}"
                )
        job_finish(
            job, status=outcome.status, error=outcome.error, fields=fields, on_commit=recorder.flush
        )
        return outcome.status
    except BaseException as exc:
        job_finish(job, status=JobStatus.FAILED, error=_interrupted(exc))
        raise


def _interrupted(exc: BaseException) -> str:
    if isinstance(exc, SystemExit) and "timeout" in str(exc).lower():
        return f"The background task hit its time limit and was stopped: {exc}"
    return f"The worker stopped while the job ran ({type(exc).__name__}: {exc})."
