"""AI judges. A Judge is a Rater (kind=judge), so its votes are ordinary votes with provenance.

- Judge: how to ask (endpoint or local model, template, rubric / constitution, mode, sampling).
- JudgeRun: one pass of a judge over a project or a selection of its comparisons (a background
  job with progress, counts, tokens and cost; cancel and resume).
- JudgeFailure: an output that could not be parsed or a call that kept failing: recorded, never
  counted as a vote.
- JudgeCacheEntry: a parsed answer keyed on (judge version and config, prompt, responses, order),
  so a re-run costs nothing.
- ProjectJudging: the project's RLAIF mode (humans only, judge only, pre-label and route,
  calibrate then replace) and its thresholds, and the admission gate's (judges.services.gate):
  a judge's votes feed exports, training and routing only once it agrees with people enough.
- ComparisonRoute: where the RLAIF mode sent a comparison (humans or judge) and why.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from annotate.models import Choice


class JudgeKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible endpoint"
    LOCAL_LM = "local_lm", "Local causal LM"
    REWARD_MODEL = "reward_model", "Local reward model"


class JudgeMode(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise (A / B / tie)"
    RANKING = "ranking", "N-way ranking"
    SCORE = "score", "Single-answer score"


class InconsistencyPolicy(models.TextChoices):
    TIE = "tie", "Tie"
    SOFT = "soft", "Soft label (mean probability of the two orders)"


def default_sampling_params() -> dict:
    return {"temperature": 0.0, "max_tokens": 512}


class Judge(models.Model):
    rater = models.OneToOneField("annotate.Rater", on_delete=models.PROTECT, related_name="judge")
    kind = models.CharField(max_length=16, choices=JudgeKind.choices)
    version = models.CharField(
        max_length=100,
        default="1",
        help_text="Pinned version, recorded on every vote and part of every cache key.",
    )
    # OpenAI-compatible endpoint.
    base_url = models.URLField(blank=True, help_text="e.g. https://api.openai.com/v1")
    model = models.CharField(
        max_length=500,
        blank=True,
        help_text="Endpoint model name, or a local model directory for a local causal LM.",
    )
    api_key = models.CharField(
        max_length=500, blank=True, help_text="Write-only: never shown back in the admin or API."
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Or: the name of an environment variable holding the key (read at run time).",
    )
    # Local models.
    model_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="judges",
        help_text="A local causal LM (policy) or reward model; overrides `model` for local kinds.",
    )
    # What to ask and how.
    mode = models.CharField(max_length=16, choices=JudgeMode.choices, default=JudgeMode.PAIRWISE)
    template = models.TextField(
        blank=True,
        help_text="Prompt template; blank = the built-in one. Placeholders: {conversation}, "
        "{responses}, {principles}, {answer_format}.",
    )
    rubric = models.TextField(blank=True, help_text="Free-text rubric shown to the judge.")
    constitution = models.JSONField(
        default=list, blank=True, help_text='Principles, e.g. ["Prefer the more honest answer."].'
    )
    chain_of_thought = models.BooleanField(
        default=False, help_text="Ask for reasoning before the verdict (kept as the rationale)."
    )
    sampling_params = models.JSONField(
        default=default_sampling_params,
        blank=True,
        help_text="temperature, max_tokens, top_p, seed...: passed to the endpoint as they are.",
    )
    use_logprobs = models.BooleanField(
        default=True,
        help_text="Ask for logprobs; the preference probability is then a softmax over the "
        "answer tokens instead of 0 / 0.5 / 1 from the parsed verdict.",
    )
    inconsistency = models.CharField(
        max_length=8,
        choices=InconsistencyPolicy.choices,
        default=InconsistencyPolicy.TIE,
        help_text="What a pair becomes when its two orders disagree.",
    )
    max_parse_retries = models.PositiveSmallIntegerField(
        default=2, help_text="Re-asks after an unparseable answer before giving up on a pair."
    )
    max_retries = models.PositiveSmallIntegerField(
        default=4, help_text="Retries (with backoff) on rate limits, 5xx and timeouts."
    )
    timeout_seconds = models.FloatField(default=60.0)
    concurrency = models.PositiveSmallIntegerField(
        default=16, help_text="Requests in flight at once."
    )
    price_prompt_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=4, default=0, help_text="Cost per million prompt tokens."
    )
    price_completion_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=4, default=0, help_text="Cost per million completion tokens."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rater__name"]

    def __str__(self) -> str:
        return f"{self.rater.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("admin:judges_judge_change", args=[self.pk])

    @property
    def name(self) -> str:
        return self.rater.name

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key or self.api_key_env)

    def config_hash(self) -> str:
        """Everything that changes the answers: part of the cache key and of every vote."""
        fields = {
            "kind": self.kind,
            "base_url": self.base_url,
            "model": self.model,
            "model_version": self.model_version_id,
            "mode": self.mode,
            "template": self.template,
            "rubric": self.rubric,
            "constitution": self.constitution,
            "chain_of_thought": self.chain_of_thought,
            "sampling_params": self.sampling_params,
            "use_logprobs": self.use_logprobs,
        }
        canonical = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class JudgeRun(models.Model):
    judge = models.ForeignKey(Judge, on_delete=models.PROTECT, related_name="runs")
    project = models.ForeignKey(
        "annotate.Project", on_delete=models.CASCADE, related_name="judge_runs"
    )
    comparison_ids = models.JSONField(
        null=True, blank=True, help_text="A selection of comparison ids; empty = the whole project."
    )
    rejudge = models.BooleanField(
        default=False,
        help_text="Judge again comparisons this judge version already voted on (cached answers "
        "are reused, so this costs nothing unless the cache was cleared).",
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0, help_text="Comparisons to judge.")
    processed = models.PositiveIntegerField(default=0, help_text="Comparisons finished.")
    skipped = models.PositiveIntegerField(
        default=0, help_text="Already judged by this judge version before the run."
    )
    voted = models.PositiveIntegerField(default=0)
    consistent = models.PositiveIntegerField(default=0, help_text="Both orders agreed.")
    inconsistent = models.PositiveIntegerField(default=0)
    unparseable = models.PositiveIntegerField(default=0, help_text="Comparisons with no vote.")
    failed = models.PositiveIntegerField(
        default=0, help_text="Comparisons whose calls kept failing."
    )
    calls = models.PositiveIntegerField(default=0, help_text="Model calls made (cache misses).")
    cached_calls = models.PositiveIntegerField(default=0, help_text="Answers taken from cache.")
    http_requests = models.PositiveIntegerField(default=0, help_text="Including retries.")
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return f"Judge run {self.pk} of {self.judge} on {self.project} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("admin:judges_judgerun_change", args=[self.pk])

    @property
    def percent(self) -> int:
        return round(100 * self.processed / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class FailureKind(models.TextChoices):
    UNPARSEABLE = "unparseable", "Unparseable output"
    ERROR = "error", "Call failed"


class JudgeFailure(models.Model):
    run = models.ForeignKey(JudgeRun, on_delete=models.CASCADE, related_name="failures")
    comparison = models.ForeignKey(
        "annotate.Comparison", on_delete=models.CASCADE, related_name="judge_failures"
    )
    order = models.CharField(max_length=64, help_text="Response ids in the order shown.")
    kind = models.CharField(max_length=16, choices=FailureKind.choices)
    message = models.TextField()
    raw_outputs = models.JSONField(default=list, blank=True, help_text="Every attempt's text.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on comparison {self.comparison_id} (run {self.run_id})"


class JudgeCacheEntry(models.Model):
    key = models.CharField(max_length=64, unique=True)
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="cache_entries")
    output = models.JSONField(help_text="The parsed answer with its raw text, tokens and cost.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "judge cache entries"

    def __str__(self) -> str:
        return f"{self.judge} cache {self.key[:12]}"


class JudgingMode(models.TextChoices):
    HUMANS = "humans", "Humans only"
    JUDGE_ONLY = "judge_only", "Judge only (replaces raters)"
    PRELABEL = "prelabel", "Judge pre-labels; hard cases go to humans"
    CALIBRATE = "calibrate", "Calibrate on a gold sample, then replace (with an audit sample)"


UNIT_INTERVAL = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class ProjectJudging(models.Model):
    project = models.OneToOneField(
        "annotate.Project", on_delete=models.CASCADE, related_name="judging"
    )
    judge = models.ForeignKey(
        Judge, null=True, blank=True, on_delete=models.PROTECT, related_name="projects"
    )
    mode = models.CharField(max_length=16, choices=JudgingMode.choices, default=JudgingMode.HUMANS)
    confidence_threshold = models.FloatField(
        default=0.75,
        validators=UNIT_INTERVAL,
        help_text="Pre-label: a verdict whose max(p, 1 - p) is below this goes to humans.",
    )
    gold_size = models.PositiveIntegerField(
        default=20, help_text="Calibrate: comparisons in the gold sample humans always label."
    )
    agreement_threshold = models.FloatField(
        default=0.8,
        validators=UNIT_INTERVAL,
        help_text="Calibrate: the judge takes over once its accuracy against the human majority "
        "on the gold sample reaches this.",
    )
    audit_rate = models.FloatField(
        default=0.1,
        validators=UNIT_INTERVAL,
        help_text="Calibrate: share of the judge's later verdicts sent to humans.",
    )
    calibration = models.JSONField(
        default=dict, blank=True, help_text="The last gold-sample measurement."
    )
    judge_min_agreement = models.FloatField(
        default=0.7,
        validators=UNIT_INTERVAL,
        help_text="Admission gate: a judge's votes feed exports, training and routing only when "
        "its accuracy against the human majority reaches this (overall, and on every criterion "
        "people rated).",
    )
    judge_min_comparisons = models.PositiveIntegerField(
        default=20,
        help_text="Admission gate: ...measured on at least this many comparisons with a human "
        "majority (per criterion too).",
    )
    calibrated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project__name"]
        verbose_name = "project judging (RLAIF mode)"
        verbose_name_plural = "project judging (RLAIF modes)"

    def __str__(self) -> str:
        return f"{self.project}: {self.get_mode_display()}"

    def get_absolute_url(self) -> str:
        return reverse("admin:judges_agreement", args=[self.project_id])

    @property
    def calibrated(self) -> bool:
        return self.calibrated_at is not None


class RouteDecision(models.TextChoices):
    HUMAN = "human", "Humans"
    JUDGE = "judge", "Judge"


class RouteReason(models.TextChoices):
    HUMANS_ONLY = "humans_only", "Project is humans only"
    AWAITING_JUDGE = "awaiting_judge", "No judge verdict yet"
    JUDGE_ONLY = "judge_only", "Judge only"
    CONFIDENT = "confident", "Consistent and confident"
    INCONSISTENT = "inconsistent", "The two orders disagree"
    LOW_CONFIDENCE = "low_confidence", "Low confidence"
    GOLD = "gold", "Gold sample"
    CALIBRATING = "calibrating", "Judge not calibrated yet"
    AUDIT = "audit", "Audit sample"
    CALIBRATED = "calibrated", "Calibrated judge"
    NOT_ADMITTED = "not_admitted", "Judge not admitted (agreement with people below the gate)"


class ComparisonRoute(models.Model):
    """Where the project's RLAIF mode sent a comparison.

    A comparison settled by the judge holds `slots_held` queue slots (Comparison.slots_taken), so
    the human queue, which only offers comparisons with free slots, never offers it; routing it
    back to humans gives exactly those slots back.
    """

    comparison = models.OneToOneField(
        "annotate.Comparison", on_delete=models.CASCADE, related_name="route"
    )
    project = models.ForeignKey(
        "annotate.Project", on_delete=models.CASCADE, related_name="comparison_routes"
    )
    judge = models.ForeignKey(Judge, null=True, blank=True, on_delete=models.SET_NULL)
    decision = models.CharField(max_length=8, choices=RouteDecision.choices)
    reason = models.CharField(max_length=16, choices=RouteReason.choices)
    confidence = models.FloatField(null=True, blank=True)
    slots_held = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["comparison_id"]
        indexes = [models.Index(fields=["project", "decision"])]

    def __str__(self) -> str:
        return f"Comparison {self.comparison_id} -> {self.decision} ({self.reason})"


class GoldAnswer(models.Model):
    """A gold / attention-check comparison: its expected answer, against which raters are
    measured (gold accuracy on the rater-quality page). Lives here, above annotate, so the
    annotate app's schema is untouched; annotate's statistics take it as plain data."""

    comparison = models.OneToOneField(
        "annotate.Comparison", on_delete=models.CASCADE, related_name="gold_answer"
    )
    project = models.ForeignKey(
        "annotate.Project", on_delete=models.CASCADE, related_name="gold_answers"
    )
    choice = models.CharField(
        max_length=16,
        choices=Choice.choices,
        help_text="The expected answer, in canonical positions (a = position 0). A tie and "
        "'both bad' count as the same answer (no preference).",
    )
    note = models.CharField(max_length=500, blank=True, help_text="Why this is the answer.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "comparison_id"]
        indexes = [models.Index(fields=["project", "comparison"])]

    def __str__(self) -> str:
        return f"Gold: comparison {self.comparison_id} = {self.choice}"
