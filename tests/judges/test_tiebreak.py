"""Calibrate-then-replace must not stall on a gold comparison whose humans split evenly
(issue 11, defect 3): such an item gets one more rater slot, and a reviewer's verdict settles it
as well."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotate.models import Adjudication, Comparison
from annotate.services.queue import assignment_for_comparison
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from judges.models import JudgingMode
from judges.services.routing import gold_ids, project_judging_set, routing_apply
from tests.factories import ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _vote_in_slot(comparison: Comparison, username: str, choice: str) -> None:
    rater = rater_for_user(user=UserFactory(username=username))
    assignment_for_comparison(comparison=comparison, rater=rater)
    vote_submit(comparison=comparison, rater=rater, choice=choice)


@pytest.fixture
def split_gold():
    """overlap 2, gold of 2: the judge says "a" everywhere; people agree on one gold item and
    split 1-1 on the other."""
    from judges.services.judges import judge_create

    project = ProjectFactory(overlap=2)
    cs = [make_comparison(project=project) for _ in range(4)]
    judge = judge_create(name="j", kind="openai", model="m", base_url="http://127.0.0.1:9/v1")
    for c in cs:
        vote_submit(comparison=c, rater=judge.rater, choice="a", metadata={"confidence": 0.9})
    judging = project_judging_set(
        project=project, mode=JudgingMode.CALIBRATE, judge=judge, gold_size=2, audit_rate=0.0
    )
    agreed, split = (Comparison.objects.get(pk=pk) for pk in gold_ids(project=project, size=2))
    _vote_in_slot(agreed, "h1", "a")
    _vote_in_slot(agreed, "h2", "a")
    _vote_in_slot(split, "h3", "a")
    _vote_in_slot(split, "h4", "b")
    routing_apply(project=project)
    judging.refresh_from_db()
    assert not judging.calibrated
    return project, judging, split


def test_a_split_gold_item_gets_a_tie_break_rater_and_calibration_completes(split_gold):
    project, judging, split = split_gold
    assert judging.calibration["gold_split"] == [split.pk]

    # The extra slot: a third rater can vote (it was refused: "already has its 2 raters")...
    tiebreaker = rater_for_user(user=UserFactory(username="h5"))
    assignment_for_comparison(comparison=split, rater=tiebreaker)
    vote_submit(comparison=split, rater=tiebreaker, choice="a")
    routing_apply(project=project)

    judging.refresh_from_db()
    assert judging.calibrated and judging.calibration["gold_labeled"] == 2
    # ...and only one: once settled, nobody else is offered it.
    split.refresh_from_db()
    assert split.slots_taken == project.overlap


def test_the_extra_slot_is_opened_once_however_often_routing_runs(split_gold):
    project, _, split = split_gold
    routing_apply(project=project)
    routing_apply(project=project)
    split.refresh_from_db()
    assert split.slots_taken == project.overlap - 1
    _vote_in_slot(split, "h5", "tie")  # a 1-1-1 split: one more slot, again only one
    routing_apply(project=project)
    routing_apply(project=project)
    split.refresh_from_db()
    assert split.slots_taken == project.overlap - 1


def test_a_reviewer_verdict_settles_a_split_gold_item(split_gold):
    project, judging, split = split_gold
    reviewer = get_user_model().objects.create_user("reviewer")
    Adjudication.objects.create(comparison=split, reviewer=reviewer, choice="a")

    routing_apply(project=project)

    judging.refresh_from_db()
    assert judging.calibrated and judging.calibration["gold_split"] == []
