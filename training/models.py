"""Model lineage, and the engine jobs that train, evaluate and sample from model versions.

A job (TrainingRun, GenerationJob) is run by a django-q2 task that starts the engine in a child
process (training/engine/jobs.py is the contract) and copies its events.jsonl into these rows:
progress, metric history, log tail, final metrics or the error. `pid`, `worker_pid`, `host` and
`heartbeat_at` let the periodic sweep tell a live job from one whose worker died.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class ModelKind(models.TextChoices):
    POLICY = "policy", "Policy"
    REWARD_MODEL = "reward_model", "Reward model"


class ModelVersion(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.POLICY)
    base_model = models.CharField(
        max_length=500,
        help_text="A local model directory or a Hugging Face hub id (with an endpoint: the "
        "model name the endpoint serves).",
    )
    adapter_path = models.CharField(max_length=500, blank=True, help_text="PEFT adapter directory.")
    endpoint = models.URLField(
        max_length=500,
        blank=True,
        help_text="Base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI) that "
        "serves this model; generation then goes through the openai client. The API key comes "
        "from OPENAI_API_KEY.",
    )
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
    metrics = models.JSONField(default=dict, blank=True, help_text="Evaluation results.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("admin:training_modelversion_change", args=[self.pk])

    def as_model_ref(self) -> dict[str, str | None]:
        """The engine's ModelRef fields for this version."""
        return {"path": self.base_model, "adapter_path": self.adapter_path or None}


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class EngineJob(models.Model):
    """What every job run by the engine in a child process records."""

    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    error = models.TextField(blank=True, help_text="Why it failed, in words a user can act on.")
    warnings = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    out_dir = models.CharField(max_length=500, blank=True)
    events_offset = models.BigIntegerField(
        default=0, help_text="Bytes of events.jsonl already recorded."
    )
    log_tail = models.TextField(blank=True)
    outputs = models.JSONField(default=dict, blank=True, help_text="The engine's 'done' outputs.")
    accelerate_config = models.CharField(
        max_length=500,
        blank=True,
        help_text="An accelerate config file: the engine is then started with "
        "`accelerate launch --config_file ...` (default: the ACCELERATE_CONFIG setting).",
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker started it (resumes count)."
    )
    pid = models.IntegerField(null=True, blank=True, help_text="The engine child process.")
    worker_pid = models.IntegerField(null=True, blank=True, help_text="The django-q2 worker.")
    host = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress_percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if not self.total_steps:
            return 0
        return min(100, round(100 * self.step / self.total_steps))


class RunKind(models.TextChoices):
    REWARD_MODEL = "reward_model", "Reward model"
    SFT = "sft", "SFT"
    DPO = "dpo", "DPO"
    PPO = "ppo", "PPO"
    GRPO = "grpo", "GRPO"
    RLOO = "rloo", "RLOO"
    REJECTION_SAMPLING = "rejection_sampling", "Rejection sampling"
    EVALUATE_REWARD_MODEL = "evaluate_reward_model", "Evaluate reward model"
    EVALUATE_POLICY = "evaluate_policy", "Evaluate policy"


TRAINING_KINDS = (
    RunKind.REWARD_MODEL,
    RunKind.SFT,
    RunKind.DPO,
    RunKind.PPO,
    RunKind.GRPO,
    RunKind.RLOO,
)
EVALUATION_KINDS = (RunKind.EVALUATE_REWARD_MODEL, RunKind.EVALUATE_POLICY)
DATA_KINDS = (RunKind.REJECTION_SAMPLING,)
"""Runs that produce dataset snapshots rather than a model."""
ONLINE_KINDS = (RunKind.PPO, RunKind.GRPO, RunKind.RLOO)
"""Runs that sample from the policy as they train, scored by a reward model or an AI judge."""
PROMPT_KINDS = (*ONLINE_KINDS, *DATA_KINDS)
"""Runs that read only prompts: a project's own prompts serve when no snapshot is chosen."""


class Method(models.TextChoices):
    FULL = "full", "Full fine-tune"
    LORA = "lora", "LoRA"
    QLORA = "qlora", "QLoRA (CUDA GPU + bitsandbytes)"
    PROMPT_TUNING = "prompt_tuning", "Prompt tuning"
    PREFIX_TUNING = "prefix_tuning", "Prefix tuning"
    IA3 = "ia3", "IA3"


class TrainingRun(EngineJob):
    """One engine run: training (RM, SFT, DPO, PPO...), rejection sampling, or the evaluation of a
    model a run produced."""

    kind = models.CharField(max_length=32, choices=RunKind.choices)
    project = models.ForeignKey(
        "annotate.Project",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_runs",
        help_text="Where its prompts come from when it has no snapshot (rejection sampling), "
        "and where the snapshots it produces are recorded.",
    )
    round = models.ForeignKey(
        "Round", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    base = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        related_name="runs",
        help_text="The model trained from (training) or evaluated (evaluation).",
    )
    snapshot = models.ForeignKey(
        "annotate.DatasetSnapshot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runs",
    )
    reward_model = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="scored_runs",
        help_text="Scores completions: PPO/GRPO/RLOO rewards and policy evaluation.",
    )
    reward_judge = models.ForeignKey(
        "judges.Judge",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rewarded_runs",
        help_text="PPO/GRPO/RLOO: an AI judge scores the completions instead of a reward model "
        "(RLAIF).",
    )
    parent_run = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evaluations",
        help_text="For an evaluation: the training run whose model it evaluates.",
    )
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.FULL)
    hyperparameters = models.JSONField(
        default=dict, blank=True, help_text="Every value used: the kind's defaults and overrides."
    )
    seed = models.IntegerField(default=0)
    final_metrics = models.JSONField(default=dict, blank=True)
    last_checkpoint = models.CharField(max_length=500, blank=True)
    last_checkpoint_step = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="run_sweep_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} run {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("admin:training_trainingrun_change", args=[self.pk])

    @property
    def is_evaluation(self) -> bool:
        return self.kind in EVALUATION_KINDS


class RunMetric(models.Model):
    """One "log" or "eval" event of a run: the points of its curves."""

    class Kind(models.TextChoices):
        LOG = "log", "Training log"
        EVAL = "eval", "Evaluation"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metric_points")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.LOG)
    step = models.PositiveIntegerField()
    values = models.JSONField(default=dict)
    logged_at = models.DateTimeField()

    class Meta:
        ordering = ["run_id", "id"]
        indexes = [models.Index(fields=["run", "kind", "step"])]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.kind} @ step {self.step}"


class GenerationBackend(models.TextChoices):
    ENGINE = "engine", "transformers (engine child process)"
    ENDPOINT = "endpoint", "OpenAI-compatible endpoint"


class GenerationJob(EngineJob):
    """K candidate responses per prompt from one model version, then comparisons to judge."""

    project = models.ForeignKey(
        "annotate.Project", on_delete=models.CASCADE, related_name="generation_jobs"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="generation_jobs"
    )
    backend = models.CharField(
        max_length=16, choices=GenerationBackend.choices, default=GenerationBackend.ENGINE
    )
    round = models.ForeignKey(
        "Round", null=True, blank=True, on_delete=models.SET_NULL, related_name="generation_jobs"
    )
    pair_with = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Also compare each new response with the same prompt's responses from this "
        "version (head to head: a new policy against its parent).",
    )
    prompt_ids = models.JSONField(
        default=list, blank=True, help_text="Prompts to answer; empty means all of the project's."
    )
    k = models.PositiveSmallIntegerField(default=2, help_text="Candidates per prompt.")
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text="temperature, top_p, max_new_tokens, seed (and concurrency, max_retries for "
        "endpoints).",
    )
    responses_created = models.PositiveIntegerField(default=0)
    comparisons_created = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return (
            f"Generation {self.pk}: {self.k} per prompt from {self.model_version} ({self.status})"
        )

    def get_absolute_url(self) -> str:
        return reverse("admin:training_generationjob_change", args=[self.pk])


class Round(models.Model):
    """One iteration of the loop on a project: a policy version answers prompts (candidates), raters
    and judges compare the answers, runs train reward models and policies on those votes, and the
    best new policy starts the next round. Generation jobs and runs point to their round."""

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    policy = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        related_name="rounds",
        help_text="The policy this round starts from: it generates the round's candidates.",
    )
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="round_number_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.project} round {self.number} (from {self.policy})"

    def get_absolute_url(self) -> str:
        return reverse("admin:training_round_change", args=[self.pk])
