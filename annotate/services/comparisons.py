"""Creating comparisons from a prompt's responses, per the project's mode."""

from __future__ import annotations

from itertools import combinations

from django.db import transaction

from annotate.errors import ValidationError
from annotate.models import Comparison, ComparisonItem, Project, ProjectMode, Prompt, Response


def comparison_create(
    *, project: Project, prompt: Prompt, responses: list[Response]
) -> tuple[Comparison, bool]:
    """One comparison over `responses` in that order; returns (comparison, created).

    The same prompt and responses in the same order make the same comparison (deduped by hash).
    """
    if len(responses) < 2:
        raise ValidationError("a comparison needs at least 2 responses", field="responses")
    ids = [r.pk for r in responses]
    if len(set(ids)) != len(ids):
        raise ValidationError("a response appears twice in one comparison", field="responses")
    if any(r.prompt_id != prompt.pk for r in responses):
        raise ValidationError(
            "every response must answer the comparison's prompt", field="responses"
        )
    digest = Comparison.hash_for(prompt.pk, ids)
    with transaction.atomic():
        existing = Comparison.objects.filter(project=project, content_hash=digest).first()
        if existing:
            return existing, False
        comparison = Comparison.objects.create(project=project, prompt=prompt, content_hash=digest)
        ComparisonItem.objects.bulk_create(
            ComparisonItem(comparison=comparison, response=r, position=i)
            for i, r in enumerate(responses)
        )
    return comparison, True


def comparisons_create_for_prompt(
    *, project: Project, prompt: Prompt, responses: list[Response]
) -> list[Comparison]:
    """Pairwise projects get every pair of responses; ranking projects one N-way comparison."""
    if len(responses) < 2:
        return []
    if project.mode == ProjectMode.RANKING:
        groups = [list(responses)]
    else:
        groups = [list(pair) for pair in combinations(responses, 2)]
    return [comparison_create(project=project, prompt=prompt, responses=g)[0] for g in groups]
