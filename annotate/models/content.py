"""What is judged: prompts (conversations), candidate responses, comparisons of them."""

from __future__ import annotations

import hashlib
import json

from django.db import models
from django.db.models import Q

from annotate.models.projects import Project


def content_hash(value: object) -> str:
    """sha256 of a canonical JSON rendering: the same conversation or text hashes the same."""
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class MessageRole(models.TextChoices):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Prompt(models.Model):
    """A conversation to answer: [{"role": "system"|"user"|"assistant", "content": str}, ...]."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    messages = models.JSONField()
    tags = models.JSONField(default=list, blank=True)
    source_file = models.CharField(max_length=500, blank=True)
    source_line = models.PositiveIntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="prompt_unique_per_project"
            )
        ]

    def __str__(self) -> str:
        return f"Prompt {self.pk}: {self.last_user_text[:60]}"

    def save(self, *args, **kwargs) -> None:
        self.content_hash = content_hash(self.messages)
        super().save(*args, **kwargs)

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages or []):
            if message.get("role") == MessageRole.USER:
                return message.get("content", "")
        return ""

    @property
    def turn_count(self) -> int:
        return sum(1 for m in self.messages or [] if m.get("role") == MessageRole.USER)


class Response(models.Model):
    """A candidate answer to a prompt, with where it came from."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    model_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="responses",
        help_text="The model version that generated it, when generated here.",
    )
    source = models.CharField(
        max_length=200, blank=True, help_text="Where it came from when imported or written."
    )
    generation_params = models.JSONField(default=dict, blank=True)
    edited_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="edits"
    )
    author = models.ForeignKey(
        "Rater",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="authored_responses",
        help_text="The rater who wrote it (edited responses).",
    )
    content_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "content_hash"], name="response_unique_per_prompt"
            )
        ]

    def __str__(self) -> str:
        return f"Response {self.pk} to prompt {self.prompt_id}"

    def save(self, *args, **kwargs) -> None:
        self.content_hash = content_hash(self.text)
        super().save(*args, **kwargs)

    @property
    def origin(self) -> str:
        if self.model_version_id:
            return f"model:{self.model_version}"
        return self.source or "unknown"


class Comparison(models.Model):
    """A prompt with 2..N responses to judge against each other."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="comparisons")
    responses = models.ManyToManyField(
        Response, through="ComparisonItem", related_name="comparisons"
    )
    content_hash = models.CharField(max_length=64, editable=False)
    vote_count = models.PositiveIntegerField(
        default=0, help_text="Denormalised count of votes, so queues need no aggregate."
    )
    slots_taken = models.PositiveIntegerField(
        default=0,
        help_text="Live assignments (open or done): the comparison leaves the pool at overlap k.",
    )
    reopened = models.BooleanField(
        default=False, help_text="A lease expired: offer it before fresh items."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="comparison_unique_per_project"
            )
        ]
        indexes = [
            models.Index(fields=["project", "vote_count"]),
            # The queue seeks the first open comparison at each fill level in id order.
            models.Index(fields=["project", "slots_taken", "id"], name="comparison_pool_idx"),
            models.Index(
                fields=["project", "id"], condition=Q(reopened=True), name="comparison_reopened_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Comparison {self.pk} (prompt {self.prompt_id})"

    @staticmethod
    def hash_for(prompt_id: int, response_ids: list[int]) -> str:
        return content_hash([prompt_id, list(response_ids)])

    def ordered_responses(self) -> list[Response]:
        return [
            item.response for item in self.items.select_related("response").order_by("position")
        ]


class ComparisonItem(models.Model):
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="items")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["comparison_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "position"], name="item_position_once"),
            models.UniqueConstraint(fields=["comparison", "response"], name="item_response_once"),
        ]

    def __str__(self) -> str:
        return f"{self.comparison} [{self.position}] = response {self.response_id}"
