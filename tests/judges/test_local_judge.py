"""Local judges, offline: the tiny causal LM labels the demo project through the real task
queue (django-q2, sync), and its agreement with the demo's human votes shows in the admin; a
reward-model ModelVersion judges by reward gaps."""

from __future__ import annotations

import math

import pytest
from django.urls import reverse

from annotate.models import Vote
from annotate.services.demo import demo_load
from judges.models import JudgeRun, RunStatus
from judges.selectors import agreement_report
from judges.services.judges import judge_create
from judges.services.runs import judge_run_create, judge_run_execute
from tests.factories import ProjectFactory, UserFactory, make_comparison
from training.models import ModelKind, ModelVersion

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On a shared 2-core machine torch's spinning worker threads slow a tiny model 5x."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def sync_queue(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def test_a_local_lm_judge_labels_the_demo_and_its_agreement_shows_in_the_admin(
    tiny_model_dir, client, sync_queue, django_capture_on_commit_callbacks
):
    project = demo_load()
    version = ModelVersion.objects.create(name="tiny-judge-lm", base_model=str(tiny_model_dir))
    judge = judge_create(name="tiny-judge", kind="local_lm", model_version=version)

    with django_capture_on_commit_callbacks(execute=True):
        run = judge_run_create(judge=judge, project=project)  # enqueued, run by django-q2

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.task_id
    pairwise = agreement_report(project=project).pairwise_comparisons
    assert run.voted == run.total == project.comparisons.count() and pairwise > 0
    votes = Vote.objects.filter(rater=judge.rater)
    assert votes.count() == run.voted
    for vote in votes.filter(choice__in=["a", "b", "tie"]):
        assert 0.0 < vote.preference_probability < 1.0  # a softmax over A / B / C
        assert vote.metadata["position_consistent"] in (True, False)
        assert len(vote.metadata["orders"]) == 2
    assert run.consistent + run.inconsistent == run.voted

    report = agreement_report(project=project)
    (row,) = report.judges
    assert row.overall.n == report.human_labeled > 0
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:judges_agreement", args=[project.pk])).content.decode()
    assert "tiny-judge" in page
    accuracy = f"{100 * row.overall.accuracy:.1f}%"
    assert f"<td>{row.overall.n}</td><td>{accuracy}</td>" in page
    assert "Humans (each vs the others" in page

    # The run page in the admin shows the finished run.
    run_page = client.get(reverse("admin:judges_judgerun_change", args=[run.pk])).content.decode()
    assert "Succeeded" in run_page and f"{run.voted} / {run.total}" in run_page


@pytest.fixture
def reward_model_dir(tiny_model_dir, tmp_path):
    """The tiny model with a (seeded, untrained) scalar head: a reward model to load."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model.config.pad_token_id = tokenizer.pad_token_id
    out = tmp_path / "rm"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_a_reward_model_judge_votes_by_the_reward_gap(reward_model_dir):
    from training.engine.jobs import ModelRef
    from training.engine.scoring import reward_scores

    project = ProjectFactory()
    comparisons = [make_comparison(project=project) for _ in range(3)]
    three_way = make_comparison(project=project, n=3)
    version = ModelVersion.objects.create(
        name="tiny-rm", kind=ModelKind.REWARD_MODEL, base_model=str(reward_model_dir)
    )
    judge = judge_create(name="rm-judge", kind="reward_model", model_version=version)

    run = judge_run_execute(run_id=judge_run_create(judge=judge, project=project, enqueue=False).pk)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.voted == 4 and run.consistent == run.inconsistent == 0  # order-free
    ref = ModelRef(path=str(reward_model_dir))
    for comparison in comparisons:
        vote = Vote.objects.get(rater=judge.rater, comparison=comparison)
        conversation = comparison.prompt.messages
        r = reward_scores(
            ref,
            [
                [*conversation, {"role": "assistant", "content": x.text}]
                for x in comparison.ordered_responses()
            ],
        )
        assert vote.preference_probability == pytest.approx(
            1 / (1 + math.exp(r[1] - r[0])), abs=1e-4
        )
        assert vote.choice == ("a" if r[0] > r[1] else "b")
        assert vote.metadata["position_consistent"] is None
    ranking = Vote.objects.get(rater=judge.rater, comparison=three_way).ranking
    assert sorted(i for tier in ranking for i in tier) == sorted(
        r.pk for r in three_way.ordered_responses()
    )
    assert JudgeRun.objects.get(pk=run.pk).calls == 4
