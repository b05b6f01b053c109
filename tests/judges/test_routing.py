"""RLAIF modes: which comparisons the judge settles and which reach the human queues."""

from __future__ import annotations

import pytest

from annotate.models import Comparison, Project
from annotate.services.queue import assignment_for_comparison, assignment_next
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from judges.models import ComparisonRoute, JudgingMode, RouteReason
from judges.services.routing import gold_ids, in_audit, project_judging_set, routing_apply
from judges.services.runs import judge_run_create, judge_run_execute
from tests.factories import ProjectFactory, UserFactory, make_comparison
from tests.judges.conftest import make_openai_judge
from tests.judges.fake_openai import Reply

pytestmark = pytest.mark.django_db


def _tag(comparison: Comparison, position: int, tag: str) -> None:
    response = comparison.ordered_responses()[position]
    response.text += f" {tag}"
    response.save()


def scripted(request) -> Reply:
    """GOOD wins clearly; SOSO wins narrowly (p = 0.6); BIASED pairs get "A" whatever the order;
    anything else is a clear tie."""
    shown = request.shown
    if any("BIASED" in t for t in shown):
        return Reply(content="A", probs={"A": 0.9, "B": 0.1})
    for tag, p in (("GOOD", 0.95), ("SOSO", 0.6)):
        for i, text in enumerate(shown):
            if tag in text:
                label, other = "AB"[i], "AB"[1 - i]
                return Reply(content=label, probs={label: p, other: 1 - p})
    return Reply(content="C", probs={"C": 0.9, "A": 0.05, "B": 0.05})


def _drain(project: Project, username: str) -> list[int]:
    """Everything the human queue hands one rater, voting on each."""
    rater = rater_for_user(user=UserFactory(username=username))
    seen = []
    while (assignment := assignment_next(project=project, rater=rater)) is not None:
        seen.append(assignment.comparison_id)
        vote_submit(comparison=assignment.comparison, rater=rater, choice="a")
    return seen


def _vote_in_slot(comparison: Comparison, rater, choice: str) -> None:
    """A vote as the API casts it: it takes one of the comparison's k queue slots."""
    assignment_for_comparison(comparison=comparison, rater=rater)
    vote_submit(comparison=comparison, rater=rater, choice=choice)


@pytest.fixture
def labelled(fake_openai):
    """Six pairs: two clear, one clear tie, one position-biased, two narrow."""
    fake_openai.responder = scripted
    project = ProjectFactory(overlap=2)
    cs = [make_comparison(project=project) for _ in range(6)]
    _tag(cs[0], 0, "GOOD")
    _tag(cs[1], 1, "GOOD")
    for position in (0, 1):
        _tag(cs[3], position, "BIASED")
    _tag(cs[4], 0, "SOSO")
    _tag(cs[5], 1, "SOSO")
    judge = make_openai_judge(fake_openai.base_url)
    return project, cs, judge


def test_prelabel_sends_exactly_the_inconsistent_and_low_confidence_pairs_to_humans(labelled):
    project, cs, judge = labelled
    project_judging_set(
        project=project,
        mode=JudgingMode.PRELABEL,
        judge=judge,
        confidence_threshold=0.75,
        judge_min_comparisons=0,  # routing, not admission (tests/judges/test_gate.py)
    )
    run = judge_run_create(judge=judge, project=project, enqueue=False)

    judge_run_execute(run_id=run.pk)  # routes when it finishes

    expected = {cs[3].pk, cs[4].pk, cs[5].pk}
    assert sorted(_drain(project, "ann1")) == sorted(expected)
    assert sorted(_drain(project, "ann2")) == sorted(expected)  # overlap 2: both see them
    assert _drain(project, "ann3") == []  # and no one sees them a third time
    reasons = dict(ComparisonRoute.objects.values_list("comparison_id", "reason"))
    assert reasons[cs[3].pk] == RouteReason.INCONSISTENT
    assert reasons[cs[4].pk] == reasons[cs[5].pk] == RouteReason.LOW_CONFIDENCE
    assert {reasons[c.pk] for c in cs[:3]} == {RouteReason.CONFIDENT}


def test_back_to_humans_only_returns_every_settled_comparison_to_the_queue(labelled):
    project, cs, judge = labelled
    project_judging_set(
        project=project, mode=JudgingMode.JUDGE_ONLY, judge=judge, judge_min_comparisons=0
    )
    judge_run_execute(run_id=judge_run_create(judge=judge, project=project, enqueue=False).pk)
    assert _drain(project, "early") == []  # judge only: nothing left for people

    project_judging_set(project=project, mode=JudgingMode.HUMANS)

    assert sorted(_drain(project, "late")) == sorted(c.pk for c in cs)
    held = ComparisonRoute.objects.filter(project=project, slots_held__gt=0).count()
    assert held == 0
    # Each comparison now holds exactly the one human slot it gave out.
    assert set(
        Comparison.objects.filter(project=project).values_list("slots_taken", flat=True)
    ) == {1}


def test_a_comparison_the_judge_could_not_judge_stays_with_humans(fake_openai):
    fake_openai.responder = lambda r: (
        Reply(content="no idea")
        if "HARD" in r.first_prompt
        else Reply(content="C", probs={"C": 0.99, "A": 0.01})
    )
    project = ProjectFactory()
    make_comparison(project=project)
    hard = make_comparison(project=project)
    _tag(hard, 0, "HARD")
    judge = make_openai_judge(fake_openai.base_url, max_parse_retries=0)
    project_judging_set(
        project=project, mode=JudgingMode.PRELABEL, judge=judge, judge_min_comparisons=0
    )

    judge_run_execute(run_id=judge_run_create(judge=judge, project=project, enqueue=False).pk)

    assert _drain(project, "ann") == [hard.pk]
    assert ComparisonRoute.objects.get(comparison=hard).reason == RouteReason.AWAITING_JUDGE


def test_calibrate_then_replace_waits_for_the_gold_sample_then_keeps_an_audit(fake_openai):
    fake_openai.responder = lambda r: Reply(content="C", probs={"C": 0.99, "A": 0.01})
    project = ProjectFactory(overlap=1)
    cs = [make_comparison(project=project) for _ in range(12)]
    judge = make_openai_judge(fake_openai.base_url)
    judging = project_judging_set(
        project=project,
        mode=JudgingMode.CALIBRATE,
        judge=judge,
        gold_size=3,
        agreement_threshold=0.8,
        audit_rate=0.3,
    )
    judge_run_execute(run_id=judge_run_create(judge=judge, project=project, enqueue=False).pk)
    gold = set(gold_ids(project=project, size=3))
    judging.refresh_from_db()
    assert not judging.calibrated and judging.calibration["gold_labeled"] == 0
    # Not calibrated: everything is with people; gold marked as such.
    routes = dict(ComparisonRoute.objects.values_list("comparison_id", "reason"))
    assert {routes[pk] for pk in gold} == {RouteReason.GOLD}
    assert {routes[c.pk] for c in cs if c.pk not in gold} == {RouteReason.CALIBRATING}

    # People label the gold sample as the judge did (tie) -> calibrated on the next routing.
    person = rater_for_user(user=UserFactory(username="gold-labeller"))
    for pk in gold:
        _vote_in_slot(Comparison.objects.get(pk=pk), person, "tie")
    routing_apply(project=project)

    judging.refresh_from_db()
    assert judging.calibrated and judging.calibration["accuracy"] == 1.0
    audit = {
        c.pk
        for c in cs
        if c.pk not in gold and in_audit(project=project, comparison_id=c.pk, rate=0.3)
    }
    assert audit, "the audit sample should not be empty with 9 candidates at 30%"
    left_for_people = set(_drain(project, "auditor"))
    assert left_for_people == audit  # gold already has its k=1 votes; the audit sample remains


def test_calibration_fails_when_people_disagree_with_the_judge_on_gold(fake_openai):
    fake_openai.responder = lambda r: Reply(content="C", probs={"C": 0.99, "A": 0.01})
    project = ProjectFactory(overlap=1)
    cs = [make_comparison(project=project) for _ in range(5)]
    judge = make_openai_judge(fake_openai.base_url)
    judging = project_judging_set(
        project=project, mode=JudgingMode.CALIBRATE, judge=judge, gold_size=2, audit_rate=0.0
    )
    judge_run_execute(run_id=judge_run_create(judge=judge, project=project, enqueue=False).pk)
    person = rater_for_user(user=UserFactory(username="disagrees"))
    for pk in gold_ids(project=project, size=2):
        _vote_in_slot(Comparison.objects.get(pk=pk), person, "a")

    routing_apply(project=project)

    judging.refresh_from_db()
    assert not judging.calibrated and judging.calibration["accuracy"] == 0.0
    assert len(_drain(project, "ann")) == len(cs) - 2  # everything but the labelled gold
