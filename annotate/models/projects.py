"""Projects and who works in them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class ProjectMode(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise (A / B)"
    RANKING = "ranking", "N-way ranking"


DEFAULT_CRITERIA = ["helpful", "honest", "harmless"]


def default_criteria() -> list[str]:
    return list(DEFAULT_CRITERIA)


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    criteria = models.JSONField(
        default=default_criteria, blank=True, help_text="Criteria rated 1-5 per response."
    )
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="How many raters judge each comparison (k)."
    )
    mode = models.CharField(
        max_length=16, choices=ProjectMode.choices, default=ProjectMode.PAIRWISE
    )
    strength_required = models.BooleanField(
        default=False, help_text="Raters must say how much better when they choose A or B."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("admin:annotate_project_change", args=[self.pk])


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_once_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"
