"""Casting votes. One vote per rater per comparison: resubmitting updates it."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotate.errors import ValidationError
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Choice,
    Comparison,
    Flag,
    Project,
    Rater,
    Response,
    Strength,
    Vote,
    content_hash,
)
from annotate.services.queue import assignment_unskip


def _validate_ranking(ranking: list, item_ids: list[int]) -> list[list[int]]:
    """Tiers of response ids, best first; every response exactly once."""
    if not isinstance(ranking, list) or not ranking:
        raise ValidationError("ranking must be a non-empty list of tiers", field="ranking")
    tiers = [tier if isinstance(tier, list) else [tier] for tier in ranking]
    flat = [rid for tier in tiers for rid in tier]
    if any(not isinstance(rid, int) or isinstance(rid, bool) for rid in flat):
        raise ValidationError("ranking holds response ids (integers)", field="ranking")
    if sorted(flat) != sorted(item_ids):
        raise ValidationError(
            f"ranking must list each of responses {sorted(item_ids)} exactly once", field="ranking"
        )
    return tiers


def _validate_ratings(ratings: dict, item_ids: list[int], criteria: list[str]) -> dict:
    clean: dict[str, dict[str, int]] = {}
    for rid, scores in (ratings or {}).items():
        if str(rid) not in {str(i) for i in item_ids}:
            raise ValidationError(f"response {rid} is not in this comparison", field="ratings")
        if not isinstance(scores, dict):
            raise ValidationError(f"ratings for response {rid} must be an object", field="ratings")
        for criterion, score in scores.items():
            if criterion not in criteria:
                raise ValidationError(
                    f"unknown criterion {criterion!r}; the project rates {criteria}",
                    field="ratings",
                )
            if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
                raise ValidationError(
                    f"{criterion} must be an integer from 1 to 5", field="ratings"
                )
        clean[str(rid)] = dict(scores)
    return clean


def _preferred_response_id(
    choice: str, ranking: list[list[int]] | None, item_ids: list[int]
) -> int | None:
    if ranking:
        return ranking[0][0] if len(ranking[0]) == 1 else None
    return {Choice.A: item_ids[0], Choice.B: item_ids[1]}.get(choice)


def vote_submit(
    *,
    comparison: Comparison,
    rater: Rater,
    choice: str = "",
    strength: int | None = None,
    ranking: list | None = None,
    ratings: dict | None = None,
    edited_text: str | None = None,
    rationale: str = "",
    time_spent_ms: int | None = None,
    display_order: list[int] | None = None,
    preference_probability: float | None = None,
    metadata: dict | None = None,
    item_ids: list[int] | None = None,
    edited_from_id: int | None = None,
    flag: str | None = None,
    flag_note: str = "",
) -> Vote:
    """Record (or update) `rater`'s vote on `comparison`.

    Pairwise comparisons take `choice` (canonical positions: "a" is position 0) and an optional
    `strength` for A/B (required there when the project says so); N-way comparisons take
    `ranking`. `edited_text` becomes a Response that the export ranks above the chosen one;
    `edited_from_id` names the response it was edited from (by default the preferred one: the
    rater may have edited B and then chosen A). `item_ids`, when given, must be the comparison's
    response ids in canonical order. `flag` (None: leave as it is) and `flag_note` mark the
    rater's assignment for reviewers without skipping it.
    """
    if item_ids is None:  # callers on a hot path pass the canonical order they already read
        item_ids = list(comparison.items.order_by("position").values_list("response_id", flat=True))
    tiers = None
    if ranking is not None:
        tiers = _validate_ranking(ranking, item_ids)
        if len(item_ids) == 2 and not choice:
            choice = (
                Choice.TIE
                if len(tiers) == 1
                else (Choice.A if tiers[0] == [item_ids[0]] else Choice.B)
            )
    elif len(item_ids) > 2:
        raise ValidationError(
            f"this comparison has {len(item_ids)} responses: send a ranking", field="ranking"
        )
    if len(item_ids) == 2 and choice not in Choice.values:
        raise ValidationError(f"choice must be one of {Choice.values}", field="choice")
    if (
        strength is None
        and choice in (Choice.A, Choice.B)
        and len(item_ids) == 2
        and comparison.project.strength_required
    ):
        raise ValidationError("say how much better: slightly, clearly or much", field="strength")
    if edited_from_id is not None and edited_from_id not in item_ids:
        raise ValidationError("the edit must start from one of the responses", field="edit_source")
    if flag and flag not in Flag.values:
        raise ValidationError(f"flag must be one of {Flag.values}", field="flag")
    if strength is not None:
        if choice not in (Choice.A, Choice.B):
            raise ValidationError("strength goes with an A or B choice", field="strength")
        if strength not in Strength.values:
            raise ValidationError(f"strength must be one of {Strength.values}", field="strength")
    if display_order and sorted(display_order) != sorted(item_ids):
        raise ValidationError(
            "display_order must list the comparison's responses", field="display_order"
        )
    if preference_probability is not None and not 0.0 <= preference_probability <= 1.0:
        raise ValidationError("must be between 0 and 1", field="preference_probability")
    clean_ratings = _validate_ratings(
        ratings or {}, item_ids, list(comparison.project.criteria or [])
    )

    with transaction.atomic():
        edited = None
        if edited_text is not None and edited_text.strip():
            source = edited_from_id or _preferred_response_id(choice, tiers, item_ids)
            edited = _edited_response(comparison, rater, edited_text, source)
        vote, created = Vote.objects.update_or_create(
            comparison=comparison,
            rater=rater,
            defaults={
                "choice": choice if len(item_ids) == 2 else "",
                "strength": strength,
                "ranking": tiers,
                "ratings": clean_ratings,
                "edited_response": edited,
                "rationale": rationale or "",
                "time_spent_ms": time_spent_ms,
                "display_order": list(display_order or []),
                "preference_probability": preference_probability,
                "metadata": metadata or {},
            },
        )
        if created:
            Comparison.objects.filter(pk=comparison.pk).update(vote_count=F("vote_count") + 1)
        settled = {"status": AssignmentStatus.DONE, "completed_at": timezone.now()}
        if flag is not None:
            settled.update(flag=flag, flag_note=flag_note[:500])
        Assignment.objects.filter(comparison=comparison, rater=rater).update(**settled)
    return vote


def votes_create_imported(
    *,
    rater: Rater,
    verdicts: list[tuple[Comparison, str]],
    metadata: list[dict] | None = None,
) -> int:
    """Record freshly imported preference data in bulk: `rater`'s choice on each comparison.

    For datasets loaded by annotate.services.import_ (trl chosen/rejected pairs): a few queries
    per batch instead of vote_submit's several per vote. `metadata`, when given, holds each
    verdict's provenance, in the same order. A comparison the rater already voted on keeps that
    vote (vote_submit would replace it), and only the first verdict on a comparison counts.
    vote_count goes up in one UPDATE with F(), so votes cast meanwhile are not lost. Returns how
    many votes were created.

    The choice must be one of Choice.values, in canonical positions ("a" is position 0).
    What vote_submit checks per vote and this skips, and why that is safe here:
    - that the comparison is pairwise (it reads the items of each): imported verdicts are on
      comparisons just made from a chosen and a rejected response, two items;
    - strength, ranking, ratings, edits, display order and probability: imports carry none;
    - settling the rater's assignment: an imported rater never claims one (the queue and the
      votes API serve human raters), so there is none to mark done.
    """
    if metadata is not None and len(metadata) != len(verdicts):
        raise ValueError(f"{len(verdicts)} verdicts but {len(metadata)} metadata entries")
    allowed = Choice.values  # built anew on each access: once per call, not per verdict
    first: dict[int, Vote] = {}
    for index, (comparison, choice) in enumerate(verdicts):
        if choice not in allowed:
            raise ValidationError(f"choice must be one of {allowed}", field="choice")
        if comparison.pk not in first:
            first[comparison.pk] = Vote(
                comparison=comparison,
                rater=rater,
                choice=choice,
                metadata=dict(metadata[index]) if metadata is not None else {},
            )
    if not first:
        return 0
    with transaction.atomic():
        voted = set(
            Vote.objects.filter(rater=rater, comparison_id__in=first).values_list(
                "comparison_id", flat=True
            )
        )
        votes = [vote for pk, vote in first.items() if pk not in voted]
        Vote.objects.bulk_create(votes)
        Comparison.objects.filter(pk__in=[vote.comparison_id for vote in votes]).update(
            vote_count=F("vote_count") + 1
        )
    return len(votes)


def _edited_response(
    comparison: Comparison, rater: Rater, text: str, edited_from_id: int | None
) -> Response:
    """The rewrite as a Response of its own; an identical text already there is reused."""
    # get_or_create, not check-then-create: the same edit sent twice at once must not collide
    # on the (prompt, content_hash) constraint.
    response, _ = Response.objects.get_or_create(
        prompt_id=comparison.prompt_id,
        content_hash=content_hash(text),
        defaults={
            "text": text,
            "source": "edit",
            "edited_from_id": edited_from_id,
            "author": rater,
        },
    )
    return response


def vote_delete(*, vote: Vote) -> bool:
    """Undo: remove the vote and put the assignment back in the rater's queue.

    Returns False when the vote was already gone (a concurrent undo won): counts stay right.
    """
    with transaction.atomic():
        deleted, _ = Vote.objects.filter(pk=vote.pk).delete()
        if not deleted:
            return False
        Comparison.objects.filter(pk=vote.comparison_id).update(vote_count=F("vote_count") - 1)
        # A fresh lease: the rater is looking at the item again right now.
        Assignment.objects.filter(comparison_id=vote.comparison_id, rater_id=vote.rater_id).update(
            status=AssignmentStatus.ASSIGNED, completed_at=None, assigned_at=timezone.now()
        )
    return True


@dataclass
class Undone:
    """What an undo gave back: the item, and the vote as it was (not stored any more) or the
    skip's reason and flag, so the page can show the rater what they had entered."""

    assignment: Assignment
    vote: Vote | None = None
    skip_reason: str = ""
    flag: str = ""


def last_action_undo(*, project: Project, rater: Rater) -> Undone | None:
    """Take back the rater's last action in `project`, a vote or a skip, whichever came last.

    The assignment's `completed_at` is set by both (and again by an updated vote), so the latest
    one is the last action. None when there is nothing to undo.
    """
    last = (
        Assignment.objects.filter(
            rater=rater,
            project=project,
            status__in=[AssignmentStatus.DONE, AssignmentStatus.SKIPPED],
            completed_at__isnull=False,
        )
        .select_related("comparison__prompt")
        .order_by("-completed_at", "-id")
        .first()
    )
    if last is None:
        return None
    if last.status == AssignmentStatus.SKIPPED:
        reason, flag = last.skip_reason, last.flag
        return Undone(assignment=assignment_unskip(assignment=last), skip_reason=reason, flag=flag)
    vote = (
        Vote.objects.filter(comparison_id=last.comparison_id, rater=rater)
        .select_related("edited_response")
        .first()
    )
    if vote is not None:
        vote_delete(vote=vote)
    else:  # a finished assignment without its vote: reopen it all the same
        Assignment.objects.filter(pk=last.pk).update(
            status=AssignmentStatus.ASSIGNED, completed_at=None, assigned_at=timezone.now()
        )
    last.refresh_from_db()
    return Undone(assignment=last, vote=vote)
