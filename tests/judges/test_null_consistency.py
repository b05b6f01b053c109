"""A judge that judges in one order (a reward model) records position_consistent = null: that is
"not measured", never "inconsistent" (issue 11, defect 2). Checked on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from annotate.services.votes import vote_submit
from judges.models import JudgingMode, RouteDecision, RouteReason
from judges.selectors import agreement_report, judge_labels
from judges.services.judges import judge_create
from judges.services.routing import project_judging_set
from tests.factories import ProjectFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _order_free_judge_votes(n: int = 3):
    project = ProjectFactory(overlap=2)
    judge = judge_create(name="rm", kind="openai", model="m", base_url="http://127.0.0.1:9/v1")
    comparisons = [make_comparison(project=project) for _ in range(n)]
    for c in comparisons:
        vote_submit(
            comparison=c,
            rater=judge.rater,
            choice="a",
            metadata={"position_consistent": None, "confidence": 0.95},
        )
    return project, judge, comparisons


def test_null_position_consistency_reads_as_unknown_not_false() -> None:
    project, judge, comparisons = _order_free_judge_votes()

    labels = judge_labels(project=project, judge=judge)

    assert {labels[c.pk]["consistent"] for c in comparisons} == {None}
    assert {labels[c.pk]["confidence"] for c in comparisons} == {0.95}
    (row,) = agreement_report(project=project).judges
    assert row.position_consistency is None and row.consistency_n == 0


def test_prelabel_settles_confident_verdicts_of_an_order_free_judge() -> None:
    project, judge, comparisons = _order_free_judge_votes()

    judging = project_judging_set(
        project=project,
        mode=JudgingMode.PRELABEL,
        judge=judge,
        confidence_threshold=0.75,
        judge_min_comparisons=0,  # no humans here: the admission gate is not the point
    )

    routes = {r.comparison_id: (r.decision, r.reason) for r in project.comparison_routes.all()}
    assert routes == {c.pk: (RouteDecision.JUDGE, RouteReason.CONFIDENT) for c in comparisons}, (
        judging
    )
