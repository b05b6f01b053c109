"""Reads for the annotator's pages: progress counts, history, neighbours."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q

from annotate.models import Assignment, AssignmentStatus, Comparison, Project, Rater, Vote


@dataclass(frozen=True)
class Progress:
    done: int
    open: int
    skipped: int
    remaining: int

    @property
    def total(self) -> int:
        return self.done + self.open + self.remaining

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def progress_for(*, project: Project, rater: Rater) -> Progress:
    counts = Assignment.objects.filter(rater=rater, project=project).aggregate(
        done=Count("id", filter=Q(status=AssignmentStatus.DONE)),
        open=Count("id", filter=Q(status=AssignmentStatus.ASSIGNED)),
        skipped=Count("id", filter=Q(status=AssignmentStatus.SKIPPED)),
    )
    mine = Assignment.objects.filter(rater=rater, comparison=OuterRef("pk"))
    remaining = (
        Comparison.objects.filter(project=project, slots_taken__lt=project.overlap)
        .exclude(Exists(mine))
        .count()
    )
    return Progress(remaining=remaining, **counts)


def previous_assignment(
    *, project: Project, rater: Rater, before_id: int | None
) -> Assignment | None:
    """The rater's finished item just before `before_id` (or the latest one), to go back to."""
    qs = Assignment.objects.filter(rater=rater, project=project, status=AssignmentStatus.DONE)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return qs.order_by("-id").first()


def last_vote(*, project: Project, rater: Rater) -> Vote | None:
    return (
        Vote.objects.filter(rater=rater, comparison__project=project)
        .order_by("-updated_at", "-id")
        .first()
    )


def history_for(*, project: Project, rater: Rater, limit: int = 100):
    return (
        Assignment.objects.filter(rater=rater, project=project)
        .exclude(status=AssignmentStatus.EXPIRED)
        .select_related("comparison__prompt")
        .order_by("-id")[:limit]
    )
