"""AI judges. A Judge is a Rater (kind=judge), so its votes are ordinary votes with provenance."""

from __future__ import annotations

from django.db import models


class JudgeKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible endpoint"
    LOCAL_LM = "local_lm", "Local causal LM"
    REWARD_MODEL = "reward_model", "Local reward model"


class Judge(models.Model):
    rater = models.OneToOneField("annotate.Rater", on_delete=models.PROTECT, related_name="judge")
    kind = models.CharField(max_length=16, choices=JudgeKind.choices)
    version = models.CharField(
        max_length=100,
        default="1",
        help_text="Pinned: changing prompt or model means a new version.",
    )
    base_url = models.URLField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT
    )
    prompt_template = models.TextField(blank=True)
    sampling_params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rater__name"]

    def __str__(self) -> str:
        return f"{self.rater.name} v{self.version}"
