"""The annotation queue: who judges what next, with overlap k and leases.

A rater claims a slot on a comparison when it is first shown to them (an Assignment). A comparison
holds `overlap` slots; it leaves the pool once they are all taken by open or finished assignments.
A lease that runs out (no vote within the timeout) or a skip frees the slot and marks the
comparison `reopened`, so it is offered again, before fresh items, to raters who have not seen it.

Claiming is O(k) index seeks whatever the size of the data: each rater takes the lowest-id open
comparison above the highest one it ever claimed (its cursor), so no scan over its own history
is needed; reopened items below the cursor are found through a small partial index.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotate.errors import ValidationError
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Comparison,
    ComparisonItem,
    Project,
    Rater,
)

DEFAULT_LEASE_MINUTES = 30


def lease_duration() -> timedelta:
    return timedelta(
        minutes=getattr(settings, "PS_ASSIGNMENT_LEASE_MINUTES", DEFAULT_LEASE_MINUTES)
    )


def display_order_for(*, comparison_id: int, response_ids: list[int], slot: int) -> list[int]:
    """Counterbalanced order: the slot-th rater sees the canonical order rotated by slot + offset.

    Rotations form a Latin square, so across raters every response appears in every position
    equally often; the per-comparison offset keeps canonical position 0 from always leading.
    """
    n = len(response_ids)
    offset = int(hashlib.sha256(str(comparison_id).encode()).hexdigest()[:8], 16) % n
    shift = (offset + slot) % n
    return response_ids[shift:] + response_ids[:shift]


def assignments_expire(*, now=None) -> int:
    """Turn open assignments past their lease into expired ones and free their slots."""
    cutoff = (now or timezone.now()) - lease_duration()
    stale = list(
        Assignment.objects.filter(
            status=AssignmentStatus.ASSIGNED, assigned_at__lt=cutoff
        ).values_list("pk", "comparison_id")[:500]
    )
    for pk, comparison_id in stale:
        with transaction.atomic():
            if Assignment.objects.filter(pk=pk, status=AssignmentStatus.ASSIGNED).update(
                status=AssignmentStatus.EXPIRED
            ):
                _release_slot(comparison_id)
    return len(stale)


def _release_slot(comparison_id: int) -> None:
    Comparison.objects.filter(pk=comparison_id, slots_taken__gt=0).update(
        slots_taken=F("slots_taken") - 1, reopened=True
    )


def _take_slot(comparison_id: int, overlap: int) -> int | None:
    """Atomically take one slot; returns the slot index, or None when the comparison is full.

    One UPDATE ... RETURNING (SQLite >= 3.35, PostgreSQL): the guard and the increment are a
    single statement, so two raters can never both take the last slot.
    """
    table = Comparison._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {table} SET slots_taken = slots_taken + 1,"
            " reopened = CASE WHEN slots_taken + 1 >= %s THEN FALSE ELSE reopened END"
            " WHERE id = %s AND slots_taken < %s RETURNING slots_taken",
            [overlap, comparison_id, overlap],
        )
        row = cur.fetchone()
    return None if row is None else row[0] - 1


def _assign(comparison_id: int, project: Project, rater: Rater) -> Assignment | None:
    with transaction.atomic():
        slot = _take_slot(comparison_id, project.overlap)
        if slot is None:
            return None
        response_ids = list(
            ComparisonItem.objects.filter(comparison_id=comparison_id)
            .order_by("position")
            .values_list("response_id", flat=True)
        )
        return Assignment.objects.create(
            comparison_id=comparison_id,
            rater=rater,
            project=project,
            display_order=display_order_for(
                comparison_id=comparison_id, response_ids=response_ids, slot=slot
            ),
        )


def _candidates(project: Project, rater: Rater) -> list[int]:
    """Comparison ids to try, best first: reopened ones this rater never had, then fresh ones.

    Fresh: the first open comparison above the rater's cursor (the highest comparison id it ever
    claimed here) at each fill level, k index seeks. Reopened: a partial-index seek below the
    cursor. One raw statement, because the ORM cannot express a UNION of LIMIT-ed subqueries and
    this runs on every vote.
    """
    comparisons, assignments = Comparison._meta.db_table, Assignment._meta.db_table
    cursor = (
        f"(SELECT COALESCE(MAX(comparison_id), 0) FROM {assignments}"
        " WHERE rater_id = %s AND project_id = %s)"
    )
    reopened = (
        f"SELECT * FROM (SELECT c.id, 0 AS prio FROM {comparisons} c WHERE c.project_id = %s"
        f" AND c.reopened AND c.slots_taken < %s AND c.id < {cursor} AND NOT EXISTS"
        f" (SELECT 1 FROM {assignments} a WHERE a.comparison_id = c.id AND a.rater_id = %s)"
        " ORDER BY c.id LIMIT 3) AS reopened"
    )
    level = (
        f"SELECT * FROM (SELECT id, 1 AS prio FROM {comparisons} WHERE project_id = %s"
        f" AND slots_taken = %s AND id > {cursor} ORDER BY id LIMIT 1) AS level{{n}}"
    )
    sql = " UNION ALL ".join([reopened] + [level.format(n=n) for n in range(project.overlap)])
    params = [project.pk, project.overlap, rater.pk, project.pk, rater.pk]
    for n in range(project.overlap):
        params += [project.pk, n, rater.pk, project.pk]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [cid for cid, _ in sorted(cur.fetchall(), key=lambda row: (row[1], row[0]))]


def assignment_claim(*, project: Project, rater: Rater) -> Assignment | None:
    """Give `rater` a new comparison from the pool, or None when nothing is left for them."""
    for _ in range(5):  # a race lost to another rater means: look again
        candidates = _candidates(project, rater)
        if not candidates:
            break
        for comparison_id in candidates:
            assignment = _assign(comparison_id, project, rater)
            if assignment is not None:
                return assignment
    return _claim_leftover(project, rater)


def _claim_leftover(project: Project, rater: Rater) -> Assignment | None:
    """Slow path near the end of a queue: any open comparison this rater has never had."""
    mine = Assignment.objects.filter(rater=rater, comparison=OuterRef("pk"))
    leftovers = (
        Comparison.objects.filter(project=project, slots_taken__lt=project.overlap)
        .exclude(Exists(mine))
        .order_by("id")
        .values_list("id", flat=True)[:20]
    )
    for comparison_id in leftovers:
        assignment = _assign(comparison_id, project, rater)
        if assignment is not None:
            return assignment
    return None


def assignment_open(
    *, project: Project, rater: Rater, exclude_comparison_id: int | None = None
) -> Assignment | None:
    """The rater's oldest open assignment in the project whose lease still runs."""
    qs = Assignment.objects.filter(
        rater=rater,
        project=project,
        status=AssignmentStatus.ASSIGNED,
        assigned_at__gte=timezone.now() - lease_duration(),
    )
    if exclude_comparison_id is not None:
        qs = qs.exclude(comparison_id=exclude_comparison_id)
    return qs.select_related("comparison__prompt").order_by("id").first()


def assignment_next(*, project: Project, rater: Rater) -> Assignment | None:
    """What the rater should judge now: their open item, else a newly claimed one."""
    current = assignment_open(project=project, rater=rater)
    if current is not None:
        return current
    # Sweeping leases is cheap but not free: once per half minute per process is plenty
    # (a django-q2 schedule sweeps too, for queues nobody is pulling from).
    if cache.add("annotate:lease-sweep", True, timeout=30):
        assignments_expire()
    return assignment_claim(project=project, rater=rater)


def assignment_prefetch(
    *, project: Project, rater: Rater, after_comparison_id: int
) -> Assignment | None:
    """The item that will follow the one on screen, claimed now so it can be shown at once."""
    ahead = assignments_ahead(project=project, rater=rater, exclude=[after_comparison_id])
    return ahead[0] if ahead else None


def assignments_ahead(
    *, project: Project, rater: Rater, exclude: list[int], count: int = 1
) -> list[Assignment]:
    """Up to `count` items to show after the ones the rater's page already holds.

    `exclude` names the comparisons the page has: the one on screen, those whose vote or skip
    is on its way, those already prefetched. The rater's other open items come first (oldest
    first, the order the queue serves them in), then fresh claims. Claimed items are leased
    like any other, so a page that prefetches a few items ahead holds a few leases.
    """
    open_items = Assignment.objects.filter(
        rater=rater,
        project=project,
        status=AssignmentStatus.ASSIGNED,
        assigned_at__gte=timezone.now() - lease_duration(),
    ).exclude(comparison_id__in=exclude)
    found = list(open_items.select_related("comparison__prompt").order_by("id")[:count])
    while len(found) < count:
        claimed = assignment_claim(project=project, rater=rater)
        if claimed is None:
            break
        found.append(claimed)
    return found


def assignment_skip(*, assignment: Assignment, reason: str = "", flag: str = "") -> Assignment:
    """Skip (optionally flag) an item: the slot goes back to the pool, never to this rater."""
    with transaction.atomic():
        was_open = Assignment.objects.filter(
            pk=assignment.pk, status=AssignmentStatus.ASSIGNED
        ).update(
            status=AssignmentStatus.SKIPPED,
            skip_reason=reason[:200],
            flag=flag,
            completed_at=timezone.now(),
        )
        if was_open:
            _release_slot(assignment.comparison_id)
    assignment.refresh_from_db()
    return assignment


def assignment_for_vote(*, assignment: Assignment) -> Assignment:
    """Check the assignment a vote lands on; an expired lease is renewed if a slot is still free.

    Voting on something skipped, or whose slot went to another rater, is refused, so a
    comparison never ends with more than k votes.
    """
    if assignment.status in (AssignmentStatus.ASSIGNED, AssignmentStatus.DONE):
        return assignment
    if assignment.status == AssignmentStatus.SKIPPED:
        raise ValidationError("you skipped this comparison", field="comparison")
    with transaction.atomic():
        overlap = (
            Project.objects.filter(pk=assignment.project_id).values_list("overlap", flat=True).get()
        )
        if _take_slot(assignment.comparison_id, overlap) is None:
            raise ValidationError(
                "this item timed out and went to another rater", field="comparison"
            )
        Assignment.objects.filter(pk=assignment.pk).update(
            status=AssignmentStatus.ASSIGNED, assigned_at=timezone.now()
        )
    assignment.refresh_from_db()
    return assignment


def assignment_for_comparison(*, comparison: Comparison, rater: Rater) -> Assignment:
    """A rater voting on a named comparison (API clients) takes a slot like the queue would.

    Their own assignment is reused; otherwise one of the k slots is claimed, or the vote is
    refused once k raters hold the comparison, so overlap holds whichever way votes arrive.
    """
    existing = Assignment.objects.filter(comparison=comparison, rater=rater).first()
    if existing is not None:
        return assignment_for_vote(assignment=existing)
    project = comparison.project
    try:
        assignment = _assign(comparison.pk, project, rater)
    except IntegrityError:
        # The same rater's concurrent request claimed it first; its slot is the one we share.
        return assignment_for_vote(
            assignment=Assignment.objects.get(comparison=comparison, rater=rater)
        )
    if assignment is None:
        raise ValidationError(
            f"this comparison already has its {project.overlap} raters", field="comparison"
        )
    return assignment


def assignment_unskip(*, assignment: Assignment) -> Assignment:
    """Reopen a skipped item for its rater (undo, or "reopen" in the history).

    The skip gave the slot back, so one is taken again; if the other raters have filled the
    comparison meanwhile, the item stays skipped and a ValidationError says why.
    """
    with transaction.atomic():
        overlap = (
            Project.objects.filter(pk=assignment.project_id).values_list("overlap", flat=True).get()
        )
        if _take_slot(assignment.comparison_id, overlap) is None:
            raise ValidationError(
                "other raters have taken this item since you skipped it", field="comparison"
            )
        # Guarded by status: a second reopen of the same skip raises, and its slot goes back.
        reopened = Assignment.objects.filter(
            pk=assignment.pk, status=AssignmentStatus.SKIPPED
        ).update(
            status=AssignmentStatus.ASSIGNED,
            skip_reason="",
            flag="",
            flag_note="",
            completed_at=None,
            assigned_at=timezone.now(),
        )
        if not reopened:
            raise ValidationError("this item is not skipped", field="comparison")
    assignment.refresh_from_db()
    return assignment
