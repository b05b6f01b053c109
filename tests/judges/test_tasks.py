"""Judge runs as background jobs: the django-q2 task, cancel, resume, retrying failures."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from annotate.models import Vote
from judges.models import JudgeRun, RunStatus
from judges.services import runs as runs_service
from judges.services.runs import (
    judge_run_cancel,
    judge_run_create,
    judge_run_execute,
    judge_run_resume,
)
from tests.factories import ProjectFactory, make_comparison
from tests.judges.conftest import make_openai_judge
from tests.judges.fake_openai import Reply, always

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync_queue(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def test_a_run_goes_through_the_django_q_task_queue(
    fake_openai, sync_queue, django_capture_on_commit_callbacks
):
    from django_q.models import Task

    project = ProjectFactory()
    make_comparison(project=project)
    fake_openai.responder = always("C")
    judge = make_openai_judge(fake_openai.base_url)

    with django_capture_on_commit_callbacks(execute=True):
        run = judge_run_create(judge=judge, project=project)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.voted == 1
    task = Task.objects.get(id=run.task_id)
    assert task.success and task.result["status"] == RunStatus.SUCCEEDED


def test_cancel_stops_after_the_current_batch_and_resume_finishes_the_rest(
    fake_openai, monkeypatch
):
    project = ProjectFactory()
    comparisons = [make_comparison(project=project) for _ in range(4)]
    fake_openai.responder = always("C")
    judge = make_openai_judge(fake_openai.base_url)
    run = judge_run_create(judge=judge, project=project, enqueue=False)
    monkeypatch.setattr(runs_service, "_batch_size", lambda config: 1)
    finish_batch = runs_service._finish_batch

    def finish_then_cancel(run, *args):
        finish_batch(run, *args)
        judge_run_cancel(run=JudgeRun.objects.get(pk=run.pk))  # as if someone clicked cancel

    monkeypatch.setattr(runs_service, "_finish_batch", finish_then_cancel)
    run = judge_run_execute(run_id=run.pk)
    # The batch already in flight when cancel came is finished (its calls are paid for).
    assert (run.status, run.processed, run.voted, run.total) == (RunStatus.CANCELLED, 2, 2, 4)

    monkeypatch.setattr(runs_service, "_finish_batch", finish_batch)
    fake_openai.reset()
    judge_run_resume(run=run, enqueue=False)
    run = judge_run_execute(run_id=run.pk)

    assert (run.status, run.processed, run.voted) == (RunStatus.SUCCEEDED, 4, 4)
    assert len(fake_openai.requests) == 4  # only the 2 comparisons left, both orders
    assert Vote.objects.filter(rater=judge.rater).count() == len(comparisons)


def test_a_later_run_retries_only_what_failed_and_reuses_cached_orders(fake_openai):
    project = ProjectFactory()
    make_comparison(project=project)
    flaky = make_comparison(project=project)
    flaky_first = flaky.ordered_responses()[0]
    flaky_first.text += " FLAKY"
    flaky_first.save()
    broken = {"on": True}

    def respond(request):
        # Only the order that shows the FLAKY response first fails.
        if broken["on"] and "FLAKY" in request.shown[0]:
            return Reply(status=500, headers={"retry-after-ms": "5"})
        return Reply(content="C")

    fake_openai.responder = respond
    judge = make_openai_judge(fake_openai.base_url, max_retries=0)
    first = judge_run_execute(
        run_id=judge_run_create(judge=judge, project=project, enqueue=False).pk
    )
    assert (first.voted, first.failed) == (1, 1)

    broken["on"] = False
    fake_openai.reset()
    second = judge_run_execute(
        run_id=judge_run_create(judge=judge, project=project, enqueue=False).pk
    )

    assert (second.voted, second.skipped, second.cached_calls, second.calls) == (1, 1, 1, 1)
    assert len(fake_openai.requests) == 1 and "FLAKY" in fake_openai.requests[0].shown[0]
    assert Vote.objects.filter(rater=judge.rater).count() == 2


def test_a_run_whose_worker_died_can_be_cancelled_and_resumed():
    project = ProjectFactory()
    make_comparison(project=project)
    from judges.services.judges import judge_create

    judge = judge_create(name="j", kind="openai", model="m")
    run = judge_run_create(judge=judge, project=project, enqueue=False)
    stale = timezone.now() - timedelta(hours=1)
    JudgeRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=stale, heartbeat_at=stale
    )
    run.refresh_from_db()

    assert judge_run_cancel(run=run).status == RunStatus.CANCELLED
    assert judge_run_resume(run=run, enqueue=False).status == RunStatus.QUEUED


def test_the_judge_run_command_runs_a_project_and_reports(fake_openai):
    project = ProjectFactory(slug="cmd-project")
    make_comparison(project=project)
    fake_openai.responder = always("A", probs={"A": 0.7, "B": 0.3})
    make_openai_judge(fake_openai.base_url, name="cmd-judge")
    out = StringIO()

    call_command(
        "judge_run", judge="cmd-judge", project="cmd-project", stdout=out, stderr=StringIO()
    )

    assert "succeeded: 1 votes (0 consistent, 1 inconsistent)" in out.getvalue()
    with pytest.raises(Exception, match="no judge named 'nope'"):
        call_command("judge_run", judge="nope", project="cmd-project")
