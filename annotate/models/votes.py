"""The preference data model: who judges what, and what they said.

Positions: a Comparison's responses have a canonical order (ComparisonItem.position 0, 1, ...).
Votes always speak in that canonical order ("a" is position 0), whatever order the rater saw;
`Vote.display_order` keeps what was actually shown, so position bias can be measured.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models.content import Comparison, Response


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
