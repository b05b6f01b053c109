"""Review reads and writes: disagreement per comparison, reviewers' final verdicts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from django.db import transaction

from annotate.errors import ValidationError
from annotate.models import Adjudication, Choice, Comparison, Project, Vote


@dataclass
class ReviewRow:
    comparison: Comparison
    verdicts: list[str]
    agreement: float
    adjudicated: bool

    @property
    def disagrees(self) -> bool:
        return self.agreement < 1.0


def _verdict(vote: Vote) -> str:
    if vote.choice:
        return vote.choice
    return json.dumps(vote.ranking)


def _agreement(verdicts: list[str]) -> float:
    if not verdicts:
        return 1.0
    return Counter(verdicts).most_common(1)[0][1] / len(verdicts)


def comparisons_for_review(*, project: Project, only_disagreements: bool = True, limit: int = 200):
    comparisons = (
        Comparison.objects.filter(project=project, vote_count__gte=2)
        .select_related("prompt", "adjudication")
        .prefetch_related("votes")
        .order_by("id")[: limit * 5]
    )
    rows = []
    for comparison in comparisons:
        verdicts = [_verdict(v) for v in comparison.votes.all()]
        row = ReviewRow(
            comparison=comparison,
            verdicts=verdicts,
            agreement=_agreement(verdicts),
            adjudicated=hasattr(comparison, "adjudication"),
        )
        if row.disagrees or not only_disagreements:
            rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def votes_side_by_side(*, comparison: Comparison) -> dict:
    votes = list(comparison.votes.select_related("rater", "edited_response").order_by("id"))
    verdicts = [_verdict(v) for v in votes]
    majority = Counter(verdicts).most_common(1)[0][0] if verdicts else None
    return {
        "comparison": comparison,
        "responses": comparison.ordered_responses(),
        "votes": [(v, _verdict(v) != majority) for v in votes],
        "agreement": _agreement(verdicts),
        "adjudication": Adjudication.objects.filter(comparison=comparison).first(),
    }


def adjudication_save(
    *, comparison: Comparison, reviewer, choice: str = "", ranking_json: str = "", note: str = ""
) -> Adjudication:
    """Record (or replace) the reviewer's final verdict; the export prefers it to the majority."""
    n_items = comparison.items.count()
    ranking = None
    if n_items == 2:
        if choice not in Choice.values:
            raise ValidationError(f"choice must be one of {Choice.values}", field="choice")
    else:
        try:
            ranking = json.loads(ranking_json or "")
        except json.JSONDecodeError as exc:
            raise ValidationError(
                "ranking must be JSON tiers of response ids", field="ranking"
            ) from exc
        ids = sorted(comparison.items.values_list("response_id", flat=True))
        flat = sorted(
            rid for tier in ranking for rid in (tier if isinstance(tier, list) else [tier])
        )
        if flat != ids:
            raise ValidationError(f"ranking must list each of {ids} once", field="ranking")
    with transaction.atomic():
        adjudication, _ = Adjudication.objects.update_or_create(
            comparison=comparison,
            defaults={
                "reviewer": reviewer,
                "choice": choice if n_items == 2 else "",
                "ranking": ranking,
                "note": note,
            },
        )
    return adjudication
