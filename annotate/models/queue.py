"""Assignments: which rater judges which comparison, with leases."""

from __future__ import annotations

from django.db import models

from annotate.models.content import Comparison
from annotate.models.projects import Project
from annotate.models.votes import Rater


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


class Flag(models.TextChoices):
    UNSAFE = "unsafe", "Unsafe content"
    BROKEN = "broken", "Broken responses"
    UNCLEAR = "unclear", "Unclear prompt"


class Assignment(models.Model):
    """Which rater judges which comparison; never the same pair twice."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="assignments")
    # Denormalised from the comparison so a rater's queue and cursor are single index seeks.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(
        max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ASSIGNED
    )
    display_order = models.JSONField(default=list, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    flag = models.CharField(max_length=16, choices=Flag.choices, blank=True)
    flag_note = models.CharField(
        max_length=500, blank=True, help_text="What the rater said about the flag."
    )
    assigned_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "rater"], name="assignment_once")
        ]
        indexes = [
            models.Index(fields=["rater", "project", "status", "id"], name="assignment_queue_idx"),
            models.Index(fields=["rater", "project", "comparison"], name="assignment_cursor_idx"),
            models.Index(fields=["status", "assigned_at"], name="assignment_lease_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rater.name} -> comparison {self.comparison_id} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        if self.project_id is None and self.comparison_id is not None:
            self.project_id = (
                Comparison.objects.filter(pk=self.comparison_id)
                .values_list("project_id", flat=True)
                .get()
            )
        super().save(*args, **kwargs)
