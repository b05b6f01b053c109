"""Tie-breaks: one more rater slot on a comparison whose raters split evenly.

A comparison leaves the queue once `overlap` raters hold it (annotate.services.queue). When
they split evenly, nothing more can come in: the item stays without a majority for good. A layer
that needs a majority (judges' calibration on a gold sample) asks for one more slot here. The
slot is given back the way a lapsed lease gives one back (slots_taken - 1, reopened), so the
queue offers the item again, first, to raters who never had it, and `assignment_for_comparison`
accepts one more vote. Only full comparisons with no assignment still open get the slot, so
asking again before the extra rater has voted changes nothing.
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef

from annotate.models import Assignment, AssignmentStatus, Comparison


def comparisons_tiebreak_open(*, comparison_ids: list[int]) -> list[int]:
    """Give each full, idle comparison of `comparison_ids` one more rater slot; returns the ids
    that got one."""
    if not comparison_ids:
        return []
    open_assignment = Assignment.objects.filter(
        comparison=OuterRef("pk"), status=AssignmentStatus.ASSIGNED
    )
    idle_full = Comparison.objects.filter(
        pk__in=comparison_ids, slots_taken__gte=F("project__overlap")
    ).exclude(Exists(open_assignment))
    ids = list(idle_full.values_list("pk", flat=True))
    if ids:
        Comparison.objects.filter(pk__in=ids, slots_taken__gt=0).update(
            slots_taken=F("slots_taken") - 1, reopened=True
        )
    return sorted(ids)
