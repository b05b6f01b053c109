"""django-q2 entry points: each takes an id, runs one job in this worker, returns its status."""

from __future__ import annotations

from training.services.generation import generation_execute
from training.services.runs import run_execute
from training.services.sweep import jobs_sweep


def execute_run(run_id: int) -> str:
    """Train or evaluate: the engine runs in a child process this worker watches."""
    return run_execute(run_id=run_id)


def execute_generation(job_id: int) -> str:
    """K candidates per prompt, from the engine or an OpenAI-compatible endpoint."""
    return generation_execute(job_id=job_id)


def sweep_jobs() -> dict[str, int]:
    """Runs and generation jobs whose worker died: resumed from a checkpoint, or failed."""
    return jobs_sweep()
