"""Creating comparisons from a prompt's responses, per the project's mode."""

from __future__ import annotations

from itertools import combinations, zip_longest

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


def comparison_groups(*, mode: str, responses: list[Response]) -> list[list[Response]]:
    """The response lists a prompt's comparisons hold, per the project's mode.

    Pairwise: every pair, each in the order given; ranking: one N-way comparison of them all.
    Fewer than 2 responses make none.
    """
    if len(responses) < 2:
        return []
    if mode == ProjectMode.RANKING:
        return [list(responses)]
    return [list(pair) for pair in combinations(responses, 2)]


def comparisons_create_for_prompt(
    *, project: Project, prompt: Prompt, responses: list[Response]
) -> list[Comparison]:
    """Pairwise projects get every pair of responses; ranking projects one N-way comparison."""
    groups = comparison_groups(mode=project.mode, responses=responses)
    return [comparison_create(project=project, prompt=prompt, responses=g)[0] for g in groups]


def comparisons_create_many(
    *, project: Project, groups: list[tuple[Prompt, list[Response]]]
) -> list[Comparison]:
    """comparisons_create_for_prompt for many prompts at once, in a few queries (bulk loads).

    Returns what the calls one prompt after another would, in that order: each prompt's
    comparisons per comparison_groups. A comparison the project already holds, or one called for
    twice, is made once and returned each time (deduped by Comparison.hash_for). Each returned
    comparison carries `created`: True when this call made it, as comparison_create says.
    New comparisons get their ids round-robin across prompts (each prompt's first pair, then
    each one's second...): the queue serves ids in order, so a rater does not get one prompt's
    K(K-1)/2 pairs in a row.
    Responses must be saved answers to their prompt, none twice (ValidationError otherwise).
    """
    planned: list[tuple[Prompt, list[Response], str]] = []
    for prompt, responses in groups:
        for members in comparison_groups(mode=project.mode, responses=responses):
            ids = _checked_ids(prompt, members)
            planned.append((prompt, members, Comparison.hash_for(prompt.pk, ids)))
    if not planned:
        return []
    with transaction.atomic():
        known = Comparison.objects.filter(
            project=project, content_hash__in={digest for _, _, digest in planned}
        )
        existing = {comparison.content_hash: comparison for comparison in known}
        for comparison in existing.values():
            comparison.created = False
        new: dict[str, Comparison] = {}
        items: list[ComparisonItem] = []
        out = []
        for prompt, members, digest in planned:
            comparison = existing.get(digest) or new.get(digest)
            if comparison is None:
                comparison = new[digest] = Comparison(
                    project=project, prompt=prompt, content_hash=digest
                )
                comparison.created = True
                items += (
                    ComparisonItem(comparison=comparison, response=response, position=position)
                    for position, response in enumerate(members)
                )
            out.append(comparison)
        Comparison.objects.bulk_create(_interleaved(list(new.values())))
        ComparisonItem.objects.bulk_create(items)
    return out


def _interleaved(comparisons: list[Comparison]) -> list[Comparison]:
    """Round-robin over prompts, each prompt's comparisons in their own order."""
    by_prompt: dict[int, list[Comparison]] = {}
    for comparison in comparisons:
        by_prompt.setdefault(comparison.prompt.pk, []).append(comparison)
    rounds = zip_longest(*by_prompt.values())
    return [comparison for row in rounds for comparison in row if comparison is not None]


def _checked_ids(prompt: Prompt, responses: list[Response]) -> list[int]:
    """comparison_create's checks, on objects in memory: no query per comparison."""
    ids = [r.pk for r in responses]
    if prompt.pk is None or None in ids:
        raise ValidationError("save the prompt and its responses first", field="responses")
    if len(set(ids)) != len(ids):
        raise ValidationError("a response appears twice in one comparison", field="responses")
    if any(r.prompt_id != prompt.pk for r in responses):
        raise ValidationError(
            "every response must answer the comparison's prompt", field="responses"
        )
    return ids
