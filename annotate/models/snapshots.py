"""Immutable exports that training runs point to."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotate.models.projects import Project


class SnapshotKind(models.TextChoices):
    PREFERENCE = "preference", "Preference pairs (RewardTrainer / DPOTrainer)"
    KTO = "kto", "Unpaired KTO (prompt, completion, label)"
    SFT = "sft", "SFT (prompt, completion)"


class SnapshotFormat(models.TextChoices):
    STANDARD = "standard", "Standard (strings)"
    CONVERSATIONAL = "conversational", "Conversational (messages)"


class DatasetSnapshot(models.Model):
    """An immutable export: what was exported, how, from what, and its content hash."""

    name = models.CharField(max_length=200)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshots"
    )
    kind = models.CharField(max_length=16, choices=SnapshotKind.choices)
    format = models.CharField(max_length=16, choices=SnapshotFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    path = models.CharField(max_length=500, help_text="Directory holding the files.")
    files = models.JSONField(default=dict, blank=True, help_text="{role: relative path}.")
    content_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.row_count} rows)"
