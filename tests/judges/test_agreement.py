"""Agreement of judges with the human majority, beside the human-human ceiling."""

from __future__ import annotations

import pytest

from annotate.models import Rater, RaterKind
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from judges.selectors import agreement_report, cohen_kappa, majority
from judges.services.judges import judge_create
from tests.factories import ProjectFactory, UserFactory, make_comparison

pytestmark = pytest.mark.django_db


def test_cohen_kappa_matches_the_textbook_example() -> None:
    # 50 items: both yes 20, both no 15, yes/no 5, no/yes 10 -> po 0.7, pe 0.5, kappa 0.4.
    first = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0


def test_majority_needs_a_single_most_frequent_label() -> None:
    assert majority(["a", "a", "b"]) == "a"
    assert majority(["a", "b"]) is None
    assert majority([]) is None


def _humans(n: int) -> list[Rater]:
    return [rater_for_user(user=UserFactory(username=f"h{i}")) for i in range(n)]


def test_report_compares_the_judge_with_the_majority_and_humans_with_each_other() -> None:
    project = ProjectFactory(criteria=["helpful"])
    judge = judge_create(name="j", kind="openai", model="m", base_url="http://127.0.0.1:9/v1")
    h1, h2, h3 = _humans(3)
    comparisons = [make_comparison(project=project) for _ in range(4)]
    # Make position 1 the longer response everywhere.
    for c in comparisons:
        longer = c.ordered_responses()[1]
        longer.text += " with a much longer explanation"
        longer.save()
    # humans: c0 a,a,b -> a; c1 b,b,b -> b; c2 tie,tie,a -> tie; c3 a,b (split: no label)
    votes = [("a", "a", "b"), ("b", "b", "b"), ("tie", "tie", "a"), ("a", "b", None)]
    for c, labels in zip(comparisons, votes, strict=True):
        for rater, label in zip((h1, h2, h3), labels, strict=True):
            if label:
                ratings = {}
                if label in "ab":
                    ids = [r.pk for r in c.ordered_responses()]
                    winner = ids[0] if label == "a" else ids[1]
                    ratings = {str(rid): {"helpful": 5 if rid == winner else 2} for rid in ids}
                vote_submit(comparison=c, rater=rater, choice=label, ratings=ratings)
    # judge: c0 a (right), c1 a (wrong), c2 tie (right), c3 b (no human label)
    for c, label, consistent in zip(
        comparisons, ["a", "a", "tie", "b"], [True, False, True, True], strict=True
    ):
        vote_submit(
            comparison=c,
            rater=judge.rater,
            choice=label,
            metadata={"position_consistent": consistent, "confidence": 0.9},
        )

    report = agreement_report(project=project)

    assert (report.comparisons, report.pairwise_comparisons, report.human_labeled) == (4, 4, 3)
    (row,) = report.judges
    assert row.name == "j" and row.votes == 4
    assert row.overall.n == 3 and row.overall.accuracy == pytest.approx(2 / 3)
    assert row.overall.n_no_ties == 2 and row.overall.accuracy_no_ties == pytest.approx(1 / 2)
    assert row.position_consistency == pytest.approx(3 / 4)
    # Decisive judge votes: a (shorter), a (shorter), b (longer) -> prefers longer 1 of 3.
    assert row.length_bias == pytest.approx(1 / 3) and row.length_n == 3
    # Per criterion, from mean ratings: c0 a (hit), c1 b (miss), c2 a (judge tie: miss),
    # c3 3.5 vs 3.5 -> tie (judge b: miss).
    helpful = row.criteria["helpful"]
    assert (helpful.n, helpful.accuracy) == (4, pytest.approx(1 / 4))
    humans = report.humans
    assert humans.comparisons == 4 and humans.pairs == 3 + 3 + 3 + 1
    assert humans.pairwise_agreement == pytest.approx((1 + 3 + 1 + 0) / 10)
    # Leave-one-out: c0: a vs(a,b)=None, a vs None, b vs(a,a)=a -> miss; c1: 3 hits;
    # c2: tie vs None, tie vs None, a vs tie -> miss; c3: a vs b miss, b vs a miss.
    assert humans.leave_one_out.n == 7
    assert humans.leave_one_out.accuracy == pytest.approx(3 / 7)


def test_an_imported_rater_is_not_counted_as_a_human() -> None:
    project = ProjectFactory()
    c = make_comparison(project=project)
    imported = Rater.objects.create(kind=RaterKind.IMPORTED, name="imported:x")
    vote_submit(comparison=c, rater=imported, choice="a")
    assert agreement_report(project=project).human_labeled == 0
