"""The periodic sweep: no job stays "running" after the worker that ran it died.

A running job is stale when its worker's process is gone (same host) or its heartbeat is older
than TRAINING_HEARTBEAT_TIMEOUT. The sweep kills whatever is left of its engine child, then:
cancelled if a cancel was asked; a training run with a checkpoint and attempts left goes back to
the queue and resumes from that checkpoint; anything else fails with the reason.
"""

from __future__ import annotations

import socket
from collections import Counter
from datetime import datetime

from django.utils import timezone

from training.models import EngineJob, GenerationJob, JobStatus, TrainingRun
from training.services import launcher
from training.services.execution import heartbeat_timeout, setting
from training.services.runs import enqueue_run


def max_attempts() -> int:
    return int(setting("TRAINING_MAX_ATTEMPTS", 3))


def job_is_stale(job: EngineJob, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if (
        job.host == socket.gethostname()
        and job.worker_pid
        and not launcher.pid_alive(job.worker_pid)
    ):
        return True
    if job.heartbeat_at is None:
        return True
    return (now - job.heartbeat_at).total_seconds() > heartbeat_timeout()


def jobs_sweep() -> dict[str, int]:
    """Settle every stale running job; returns how many were resumed, failed or cancelled."""
    counts: Counter = Counter()
    now = timezone.now()
    for model in (TrainingRun, GenerationJob):
        for job in model.objects.filter(status=JobStatus.RUNNING):
            if job_is_stale(job, now=now):
                counts[_settle(job)] += 1
    return dict(counts)


def _settle(job: EngineJob) -> str:
    if job.host == socket.gethostname():
        launcher.kill_group(job.pid)
    seen = (
        timezone.localtime(job.heartbeat_at).strftime("%Y-%m-%d %H:%M:%S %Z")
        if job.heartbeat_at
        else "never"
    )
    lost = f"The worker running this job stopped (last heartbeat: {seen})"
    guard = type(job).objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)
    finished = {"pid": None, "eta_seconds": None, "finished_at": timezone.now()}
    if job.cancel_requested:
        return _apply(guard, "cancelled", status=JobStatus.CANCELLED, **finished)
    can_resume = isinstance(job, TrainingRun) and job.last_checkpoint
    if can_resume and job.attempts < max_attempts():
        note = (
            f"{lost}; resumed from the checkpoint at step {job.last_checkpoint_step} "
            f"(attempt {job.attempts + 1} of {max_attempts()})."
        )
        if not guard.update(status=JobStatus.QUEUED, pid=None, warnings=[*job.warnings, note]):
            return "raced"
        enqueue_run(job)
        return "resumed"
    if can_resume:
        reason = f"{lost}, and it already ran {job.attempts} times; resume it by hand if you wish."
    else:
        reason = f"{lost} before any checkpoint was saved. Resume it to start again."
    return _apply(guard, "failed", status=JobStatus.FAILED, error=reason, **finished)


def _apply(guard, outcome: str, **values) -> str:
    return outcome if guard.update(**values) else "raced"
