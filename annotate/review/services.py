"""Review writes: a reviewer's final verdict."""

from __future__ import annotations

from django.db import transaction

from annotate.errors import ValidationError
from annotate.models import Adjudication, Choice, Comparison


def adjudication_save(
    *,
    comparison: Comparison,
    reviewer,
    choice: str = "",
    ranking: list[list[int]] | None = None,
    note: str = "",
) -> Adjudication:
    """Record (or replace) the reviewer's final verdict; the export prefers it to the majority.

    Pairwise comparisons take a `choice`; N-way ones a `ranking`: tiers of response ids, best
    first, each response exactly once ([[12], [10, 11]]: 12 first, 10 and 11 tied after it).
    """
    ids = sorted(comparison.items.values_list("response_id", flat=True))
    if len(ids) == 2:
        if choice not in Choice.values:
            raise ValidationError(f"choose one of {', '.join(Choice.values)}", field="choice")
        ranking = None
    else:
        ranking = _checked_ranking(ranking, ids)
        choice = ""
    with transaction.atomic():
        adjudication, _ = Adjudication.objects.update_or_create(
            comparison=comparison,
            defaults={"reviewer": reviewer, "choice": choice, "ranking": ranking, "note": note},
        )
    return adjudication


def _checked_ranking(ranking, ids: list[int]) -> list[list[int]]:
    if not isinstance(ranking, list) or not all(
        isinstance(t, list) and t and all(isinstance(r, int) for r in t) for t in ranking
    ):
        raise ValidationError("rank every response, best first", field="ranking")
    if sorted(r for t in ranking for r in t) != ids:
        raise ValidationError(f"rank each of responses {ids} exactly once", field="ranking")
    return [list(t) for t in ranking]
