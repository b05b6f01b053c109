"""The preference data model: who judges what, and what they said.

Positions: a Comparison's responses have a canonical order (ComparisonItem.position 0, 1, ...).
Votes always speak in that canonical order ("a" is position 0), whatever order the rater saw;
`Vote.display_order` keeps what was actually shown, so position bias can be measured.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


def content_hash(value: object) -> str:
    """sha256 of a canonical JSON rendering: the same conversation or text hashes the same."""
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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


class RaterKind(models.TextChoices):
    HUMAN = "human", "Human"
    JUDGE = "judge", "AI judge"
    IMPORTED = "imported", "Imported"


class Rater(models.Model):
    """Whoever or whatever casts a vote: a person, an AI judge, or an imported dataset."""

    kind = models.CharField(max_length=16, choices=RaterKind.choices)
    name = models.CharField(max_length=200, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rater",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="human", user__isnull=False) | ~Q(kind="human"),
                name="human_rater_has_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Choice(models.TextChoices):
    A = "a", "A better"
    B = "b", "B better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class Strength(models.IntegerChoices):
    SLIGHTLY = 1, "Slightly"
    CLEARLY = 2, "Clearly"
    MUCH = 3, "Much"


class Vote(models.Model):
    """One rater's judgment of one comparison. Resubmitting updates it (one per rater).

    - pairwise: `choice` (+ `strength`), in canonical positions ("a" = position 0);
    - N-way: `ranking`, a list of tiers of response ids, best first: [[12], [10, 11]] means
      12 beats both 10 and 11, which tie;
    - `ratings`: {"<response id>": {"<criterion>": 1..5}};
    - `edited_response`: the rater's rewrite of the preferred response (edited > chosen > rejected).
    """

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="votes")
    rater = models.ForeignKey(Rater, on_delete=models.PROTECT, related_name="votes")
    choice = models.CharField(max_length=16, choices=Choice.choices, blank=True)
    strength = models.PositiveSmallIntegerField(choices=Strength.choices, null=True, blank=True)
    ranking = models.JSONField(null=True, blank=True)
    ratings = models.JSONField(default=dict, blank=True)
    edited_response = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.SET_NULL, related_name="edit_votes"
    )
    rationale = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    display_order = models.JSONField(
        default=list, blank=True, help_text="Response ids in the order this rater saw them."
    )
    preference_probability = models.FloatField(
        null=True, blank=True, help_text="P(position 0 preferred), for soft labels (AI judges)."
    )
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Provenance: judge version, raw output, tokens, cost."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "rater"], name="one_vote_per_rater"),
            models.CheckConstraint(
                condition=~Q(choice="") | Q(ranking__isnull=False),
                name="vote_has_choice_or_ranking",
            ),
        ]
        indexes = [models.Index(fields=["rater", "created_at"])]

    def __str__(self) -> str:
        verdict = self.get_choice_display() if self.choice else "ranking"
        return f"{self.rater.name} on comparison {self.comparison_id}: {verdict}"


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


class Adjudication(models.Model):
    """A reviewer's final verdict on a comparison; exports prefer it to the raters' majority."""

    comparison = models.OneToOneField(
        Comparison, on_delete=models.CASCADE, related_name="adjudication"
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    choice = models.CharField(max_length=16, choices=Choice.choices, blank=True)
    ranking = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"Adjudication of comparison {self.comparison_id} by {self.reviewer}"


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
