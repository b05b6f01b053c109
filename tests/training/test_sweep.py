"""The sweep: a running job whose worker is gone never stays "running"."""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from tests.factories import ProjectFactory
from tests.training.support import fake_model_dir, make_snapshot, policy, preference_rows
from training.models import GenerationJob, JobStatus, RunKind, TrainingRun
from training.services.sweep import jobs_sweep
from training.tasks import sweep_jobs

pytestmark = pytest.mark.django_db


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def running(tmp_path: Path):
    base = policy(fake_model_dir(tmp_path / "tiny"))
    snapshot = make_snapshot(ProjectFactory(), preference_rows())

    def make(**fields) -> TrainingRun:
        values = {
            "kind": RunKind.REWARD_MODEL,
            "base": base,
            "snapshot": snapshot,
            "status": JobStatus.RUNNING,
            "attempts": 1,
            "host": socket.gethostname(),
            "worker_pid": dead_pid(),
            "heartbeat_at": timezone.now(),
            "out_dir": str(tmp_path / "run"),
            **fields,
        }
        return TrainingRun.objects.create(**values)

    return make


def test_the_sweep_is_scheduled_every_minute():
    schedule = Schedule.objects.get(func="training.tasks.sweep_jobs")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)


def test_a_run_whose_worker_died_after_a_checkpoint_is_queued_to_resume(running):
    run = running(last_checkpoint="/x/step-4", last_checkpoint_step=4)
    assert jobs_sweep() == {"resumed": 1}
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED
    assert "resumed from the checkpoint at step 4 (attempt 2 of 3)" in run.warnings[-1]


def test_a_run_whose_worker_died_before_any_checkpoint_fails_with_the_reason(running):
    run = running()
    assert sweep_jobs() == {"failed": 1}
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert "worker running this job stopped" in run.error
    assert "before any checkpoint" in run.error
    assert run.finished_at is not None


def test_a_run_out_of_attempts_fails_instead_of_looping(running):
    run = running(last_checkpoint="/x/step-4", last_checkpoint_step=4, attempts=3)
    jobs_sweep()
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "already ran 3 times" in run.error


def test_a_cancel_asked_of_a_dead_run_ends_it_cancelled(running):
    run = running(cancel_requested=True, last_checkpoint="/x", last_checkpoint_step=2)
    assert jobs_sweep() == {"cancelled": 1}
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED


def test_a_silent_heartbeat_counts_as_dead_even_on_another_host(running):
    old = timezone.now() - timedelta(minutes=10)
    run = running(host="elsewhere", heartbeat_at=old)
    jobs_sweep()
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED


def test_a_live_worker_with_a_fresh_heartbeat_is_left_alone(running):
    import os

    run = running(worker_pid=os.getpid())
    assert jobs_sweep() == {}
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING


def test_the_sweep_kills_an_orphaned_engine_child(running):
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    run = running(pid=child.pid)
    jobs_sweep()
    assert child.wait(timeout=5) == -9
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED


def test_generation_jobs_are_swept_too(running):
    run = running()
    job = GenerationJob.objects.create(
        project=run.snapshot.project,
        model_version=run.base,
        status=JobStatus.RUNNING,
        attempts=1,
        host=socket.gethostname(),
        worker_pid=dead_pid(),
        heartbeat_at=timezone.now(),
    )
    assert jobs_sweep() == {"failed": 2}
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_a_resumed_run_is_handed_to_the_queue(running, django_capture_on_commit_callbacks):
    running(last_checkpoint="/x/step-2", last_checkpoint_step=2)
    with django_capture_on_commit_callbacks(execute=True):
        jobs_sweep()
    assert OrmQ.objects.count() == 1
