"""Runs through a real `manage.py qcluster` process on the test database, with the fake engine.

What a user of the admin sees: a run goes queued -> running -> succeeded and is evaluated; a
cancel stops the child; a SIGKILLed child fails the run with a message; a SIGKILLed worker is
swept and the run resumes from its checkpoint. Never stuck "running".
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.factories import ProjectFactory
from tests.training.support import (
    fake_model_dir,
    make_snapshot,
    policy,
    preference_rows,
    qcluster,
    use_fake_engine,
    wait_for,
)
from training.models import JobStatus, RunKind, TrainingRun
from training.services.launcher import pid_alive
from training.services.runs import run_cancel, run_create, run_resume
from training.services.sweep import jobs_sweep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker, tmp_path_factory):
    log = tmp_path_factory.mktemp("qcluster") / "qcluster.log"
    with django_db_blocker.unblock(), qcluster(log, workers=1) as process:
        yield process
    print(log.read_text()[-3000:])


@pytest.fixture
def make_run(cluster, tmp_path: Path, monkeypatch):
    use_fake_engine(monkeypatch)
    snapshot = make_snapshot(ProjectFactory(), preference_rows())

    def make(kind: str = RunKind.REWARD_MODEL, **behaviour) -> TrainingRun:
        base = policy(fake_model_dir(tmp_path / "tiny", **behaviour))
        return run_create(kind=kind, base=base, snapshot=snapshot)

    return make


def status_of(run: TrainingRun, *wanted: str):
    run.refresh_from_db()
    return run if run.status in wanted else None


def test_a_run_and_its_evaluation_finish_through_the_cluster(make_run):
    run = make_run()
    wait_for(lambda: status_of(run, "succeeded", "failed"), timeout=60, what="the run")
    assert run.status == "succeeded", run.error
    evaluation = TrainingRun.objects.get(parent_run=run)
    wait_for(lambda: status_of(evaluation, "succeeded", "failed"), timeout=60, what="evaluation")
    version = run.produced_version
    version.refresh_from_db()
    assert version.metrics["accuracy"] == 0.95
    assert run.worker_pid != os.getpid()  # it ran in the cluster's worker


def test_cancel_checkpoints_stops_the_child_and_the_run_resumes_from_there(make_run):
    run = make_run(steps=40, sleep=0.1, checkpoint_every=0)
    wait_for(lambda: status_of(run, "running") and run.pid and run.step >= 3, what="running")
    child = run.pid

    run_cancel(run=run)

    wait_for(lambda: status_of(run, "cancelled", "failed", "succeeded"), timeout=30, what="cancel")
    assert (run.status, run.error) == ("cancelled", "")
    assert not pid_alive(child)
    stopped_at = run.last_checkpoint_step
    assert stopped_at and 3 <= stopped_at < 40  # the engine saved where it stopped

    run_resume(run=run)
    wait_for(lambda: status_of(run, "succeeded", "failed"), timeout=60, what="the resumed run")
    assert run.status == "succeeded", run.error
    steps = list(run.metric_points.filter(kind="log").values_list("step", flat=True))
    assert steps == list(range(1, 41))


def test_cancel_kills_an_engine_that_ignores_sigterm(make_run):
    run = make_run(steps=500, sleep=0.1, ignore_sigterm=True)
    wait_for(lambda: status_of(run, "running") and run.pid and run.step >= 1, what="running")
    child = run.pid

    run_cancel(run=run)

    wait_for(lambda: status_of(run, "cancelled", "failed", "succeeded"), timeout=30, what="cancel")
    assert run.status == "cancelled"
    assert not pid_alive(child)
    assert run.step < 500


def test_a_sigkilled_child_fails_the_run_with_a_message(make_run):
    run = make_run(steps=500, sleep=0.1)
    wait_for(lambda: status_of(run, "running") and run.pid and run.step >= 1, what="running")

    os.kill(run.pid, signal.SIGKILL)

    wait_for(lambda: status_of(run, "failed", "succeeded", "cancelled"), timeout=30, what="fail")
    assert run.status == "failed"
    assert "killed by SIGKILL" in run.error
    assert "out-of-memory" in run.error


def test_a_sigkilled_worker_is_swept_and_the_run_resumes_from_its_checkpoint(make_run):
    run = make_run(steps=30, sleep=0.1)
    wait_for(
        lambda: status_of(run, "running") and (run.last_checkpoint_step or 0) >= 4,
        what="a checkpoint",
    )
    worker, child = run.worker_pid, run.pid

    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not pid_alive(child), timeout=10, what="the child to die with its worker")
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING  # nobody has told the database yet

    assert jobs_sweep() == {"resumed": 1}

    wait_for(lambda: status_of(run, "succeeded", "failed"), timeout=60, what="the resumed run")
    assert run.status == "succeeded", run.error
    assert run.attempts == 2
    assert run.worker_pid != worker
    assert "resumed from the checkpoint" in run.warnings[0]
    checkpoint = int(run.warnings[0].split("step ")[1].split(" ")[0])
    starts = [
        json.loads(line)
        for line in (Path(run.out_dir) / "events.jsonl").read_text().splitlines()
        if '"start"' in line
    ]
    assert [s["step"] for s in starts] == [0, checkpoint]
