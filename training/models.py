"""Model lineage: which base, adapter and run produced each model version."""

from __future__ import annotations

from django.db import models


class ModelKind(models.TextChoices):
    POLICY = "policy", "Policy"
    REWARD_MODEL = "reward_model", "Reward model"


class ModelVersion(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.POLICY)
    base_model = models.CharField(
        max_length=500, help_text="A local model directory or a Hugging Face hub id."
    )
    adapter_path = models.CharField(max_length=500, blank=True, help_text="PEFT adapter directory.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    produced_by = models.OneToOneField(
        "TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="produced_version",
    )
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class RunKind(models.TextChoices):
    REWARD_MODEL = "reward_model", "Reward model"
    SFT = "sft", "SFT"
    DPO = "dpo", "DPO"
    PPO = "ppo", "PPO"
    GRPO = "grpo", "GRPO"
    RLOO = "rloo", "RLOO"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class TrainingRun(models.Model):
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    base = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="runs")
    snapshot = models.ForeignKey(
        "annotate.DatasetSnapshot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runs",
    )
    hyperparameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} run {self.pk} ({self.status})"
