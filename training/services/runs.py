"""Training and evaluation runs: create, cancel, resume, execute, and register what they produce.

A run that cannot work as configured (missing model, empty snapshot, LoRA rank above the hidden
size, QLoRA without a GPU) is saved as failed at once with the reason, so the run page says what
to change; nothing is queued for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from annotate.errors import ValidationError
from annotate.models import DatasetSnapshot, Project
from judges.models import Judge
from training.engine.jobs import Event, JobSpec, ModelRef
from training.models import (
    DATA_KINDS,
    EVALUATION_KINDS,
    ONLINE_KINDS,
    PROMPT_KINDS,
    TRAINING_KINDS,
    JobStatus,
    Method,
    ModelKind,
    ModelVersion,
    Round,
    RunKind,
    RunMetric,
    TrainingRun,
)
from training.services import data, preflight
from training.services.defaults import hyperparameters_for
from training.services.execution import JobConfigError, Recorder, job_execute
from training.services.rejection import rejection_snapshots_record
from training.services.rounds import round_current

SHORT_NAMES = {
    RunKind.REWARD_MODEL: "rm",
    RunKind.SFT: "sft",
    RunKind.DPO: "dpo",
    RunKind.PPO: "ppo",
    RunKind.GRPO: "grpo",
    RunKind.RLOO: "rloo",
}


def runs_root() -> Path:
    return Path(settings.DATA_DIR) / "runs"


def run_create(
    *,
    kind: str,
    base: ModelVersion,
    snapshot: DatasetSnapshot | None = None,
    method: str = Method.FULL,
    hyperparameters: dict[str, Any] | None = None,
    reward_model: ModelVersion | None = None,
    reward_judge: Judge | None = None,
    seed: int = 0,
    user=None,
    accelerate_config: str = "",
    parent_run: TrainingRun | None = None,
    project: Project | None = None,
    round: Round | None = None,
    enqueue: bool = True,
) -> TrainingRun:
    """A queued run (its task enqueued on commit), or a failed one saying why it cannot start.

    `enqueue=False` leaves the queued run for the caller to execute (`run_execute`), as the
    `train --foreground` command does. `project` defaults to the snapshot's; runs that only read
    prompts (PPO, GRPO, RLOO, rejection sampling) sample the project's prompts when no snapshot
    is given. `round` defaults to the project's current round.
    """
    if project is None and snapshot is not None:
        project = snapshot.project
    if round is None and project is not None and kind not in EVALUATION_KINDS:
        round = round_current(project=project)
    if kind not in RunKind.values:
        raise ValidationError(f"unknown run kind {kind!r}; known: {RunKind.values}", field="kind")
    if method not in Method.values:
        raise ValidationError(f"unknown method {method!r}; known: {Method.values}", field="method")
    preflight.request_check(method=method, seed=seed, accelerate_config=accelerate_config)
    merged = hyperparameters_for(kind, hyperparameters)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            kind=kind,
            base=base,
            snapshot=snapshot,
            method=method,
            hyperparameters=merged,
            reward_model=reward_model,
            reward_judge=reward_judge,
            seed=seed,
            created_by=user if getattr(user, "pk", None) else None,
            accelerate_config=accelerate_config,
            parent_run=parent_run,
            project=project,
            round=round,
        )
        run.out_dir = str(_out_dir(run))
        run.save(update_fields=["out_dir"])
        _queue_or_fail(run, enqueue=enqueue)
    return run


def _out_dir(run: TrainingRun) -> Path:
    path = runs_root() / f"{run.pk}-{run.kind}"
    if path.exists():  # left by an older database that reused this id
        path = runs_root() / f"{path.name}-{uuid.uuid4().hex[:8]}"
    return path


def _queue_or_fail(run: TrainingRun, *, enqueue: bool = True) -> None:
    problems = preflight.run_problems(run)
    if problems:
        run.status, run.error = JobStatus.FAILED, "\n".join(problems)
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
    elif enqueue:
        enqueue_run(run)


def enqueue_run(run: TrainingRun) -> None:
    pk = run.pk
    transaction.on_commit(
        lambda: async_task(
            "training.tasks.execute_run", pk, task_name=f"training-run-{pk}", group="training"
        )
    )


def run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Queued: cancelled now. Running: its worker stops the engine within a second or two."""
    now = timezone.now()
    if TrainingRun.objects.filter(pk=run.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now
    ):
        run.refresh_from_db()
        return run
    if not TrainingRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(
        cancel_requested=True
    ):
        run.refresh_from_db()
        raise ValidationError(f"run {run.pk} is already {run.status}", field="status")
    run.refresh_from_db()
    return run


def run_resume(*, run: TrainingRun) -> TrainingRun:
    """Queue a failed or cancelled run again; the engine continues from its last checkpoint."""
    with transaction.atomic():
        updated = TrainingRun.objects.filter(
            pk=run.pk, status__in=[JobStatus.FAILED, JobStatus.CANCELLED]
        ).update(
            status=JobStatus.QUEUED, cancel_requested=False, error="", finished_at=None, pid=None
        )
        run.refresh_from_db()
        if not updated:
            raise ValidationError(
                f"only failed or cancelled runs resume; run {run.pk} is {run.status}",
                field="status",
            )
        _queue_or_fail(run)
    return run


def run_execute(*, run_id: int) -> str:
    """One attempt of the run, in the calling worker (the django-q2 task's body)."""
    return job_execute(TrainingRun, run_id, prepare=_prepare, on_success=_succeeded)


class RunRecorder(Recorder):
    fields = ("final_metrics", "last_checkpoint", "last_checkpoint_step")

    def __init__(self, job: TrainingRun) -> None:
        super().__init__(job)
        self.points: list[RunMetric] = []
        self.rewind_to: int | None = None

    def on_start(self, event: Event) -> None:
        # A resumed engine restarts at its checkpoint: later points would be drawn twice.
        self.rewind_to = self.job.step

    def on_point(self, kind: str, event: Event) -> None:
        metrics = event.data.get("metrics") or {}
        self.points.append(
            RunMetric(
                run=self.job,
                kind=kind,
                step=int(event.data.get("step", self.job.step)),
                values={k: v for k, v in metrics.items() if isinstance(v, int | float)},
                logged_at=datetime.fromtimestamp(event.time, tz=UTC),
            )
        )

    def on_checkpoint(self, event: Event) -> None:
        self.job.last_checkpoint = str(event.data.get("path", ""))
        self.job.last_checkpoint_step = int(event.data.get("step", self.job.step))

    def on_done(self, event: Event) -> None:
        self.job.final_metrics = event.data.get("metrics") or {}

    def flush(self) -> None:
        if self.rewind_to is not None:
            RunMetric.objects.filter(run=self.job, step__gt=self.rewind_to).delete()
            self.rewind_to = None
        if self.points:
            RunMetric.objects.bulk_create(self.points)
            self.points = []


def _prepare(run: TrainingRun) -> tuple[JobSpec, RunRecorder]:
    problems = preflight.run_problems(run)
    if problems:
        raise JobConfigError("\n".join(problems))
    train_file, eval_file = _data_files(run)
    recorder = RunRecorder(run)
    reward_judge = None
    if run.reward_judge_id and run.kind in ONLINE_KINDS:
        from judges.services.rewarding import judge_reward_ref

        guidelines = run.project.guidelines if run.project_id else ""
        reward_judge, recorder.child_env = judge_reward_ref(
            judge=run.reward_judge, guidelines=guidelines
        )
    spec = JobSpec(
        kind=run.kind,
        out_dir=run.out_dir,
        model=ModelRef(**run.base.as_model_ref()),
        reference=_reference(run),
        reward_model=ModelRef(**run.reward_model.as_model_ref()) if run.reward_model else None,
        reward_judge=reward_judge,
        train_file=str(train_file) if train_file else None,
        eval_file=str(eval_file) if eval_file else None,
        method=run.method,
        hyperparameters=dict(run.hyperparameters),
        resume=True,
        seed=run.seed,
    )
    return spec, recorder


def _reference(run: TrainingRun) -> ModelRef | None:
    if run.kind == RunKind.EVALUATE_POLICY:
        parent = run.base.parent
        return ModelRef(**parent.as_model_ref()) if parent else None
    if run.kind in (RunKind.DPO, RunKind.PPO, RunKind.GRPO, RunKind.RLOO):
        return ModelRef(**run.base.as_model_ref())
    return None


def _data_files(run: TrainingRun) -> tuple[Path | None, Path | None]:
    out_dir = Path(run.out_dir)
    if run.kind in EVALUATION_KINDS:
        return None, _held_out_file(run)
    if run.snapshot is None and run.kind in PROMPT_KINDS:
        return data.prepare_prompt_split(
            project=run.project,
            out_dir=out_dir,
            eval_fraction=float(run.hyperparameters.get("eval_fraction", 0.0)),
            seed=run.seed,
        )
    return data.prepare_split(
        snapshot=run.snapshot,
        out_dir=out_dir,
        eval_fraction=float(run.hyperparameters.get("eval_fraction", 0.0)),
        seed=run.seed,
        sft=run.kind == RunKind.SFT,
    )


def _held_out_file(run: TrainingRun) -> Path:
    """What an evaluation scores: the producing run's held-out rows, else its own snapshot."""
    if run.parent_run_id:
        held = Path(run.parent_run.out_dir) / data.EVAL_FILE
        if held.is_file():
            return held
        raise JobConfigError(
            f"Training run {run.parent_run_id} held out no data (eval_fraction "
            f"{run.parent_run.hyperparameters.get('eval_fraction', 0)}): there is nothing it "
            "never trained on to evaluate with."
        )
    if run.snapshot is None:
        raise JobConfigError("An evaluation needs a dataset snapshot or a training run.")
    return data.snapshot_jsonl(run.snapshot)


def _succeeded(run: TrainingRun, recorder: Recorder) -> None:
    """In the transaction that marks the run succeeded: lineage, evaluation, metrics."""
    if run.kind in TRAINING_KINDS:
        version = model_version_register(run=run)
        _evaluate(run, version)
    elif run.kind in DATA_KINDS:
        rejection_snapshots_record(run=run)
    elif run.kind in EVALUATION_KINDS:
        version = run.base
        version.metrics = {
            **version.metrics,
            **run.final_metrics,
            "evaluated_by_run": run.pk,
            "warnings": list(run.warnings),
        }
        version.save(update_fields=["metrics"])


def model_version_register(*, run: TrainingRun) -> ModelVersion:
    """The model a training run produced, as a child of the model it started from."""
    outputs = run.outputs or {}
    model_dir, adapter_dir = outputs.get("model_dir"), outputs.get("adapter_dir")
    if not model_dir and not adapter_dir:
        raise ValueError("the engine reported neither a model_dir nor an adapter_dir")
    name = f"{run.base.name}-{SHORT_NAMES.get(run.kind, run.kind)}-{run.pk}"
    while ModelVersion.objects.filter(name=name).exists():
        name = f"{name}-{uuid.uuid4().hex[:4]}"
    return ModelVersion.objects.create(
        name=name,
        kind=ModelKind.REWARD_MODEL if run.kind == RunKind.REWARD_MODEL else ModelKind.POLICY,
        base_model=model_dir or run.base.base_model,
        adapter_path=adapter_dir or "",
        parent=run.base,
        produced_by=run,
    )


def _evaluate(run: TrainingRun, version: ModelVersion) -> TrainingRun | None:
    if run.kind == RunKind.REWARD_MODEL:
        kind, scorer = RunKind.EVALUATE_REWARD_MODEL, None
    else:
        kind, scorer = RunKind.EVALUATE_POLICY, run.reward_model
        if scorer is None:
            TrainingRun.objects.filter(pk=run.pk).update(
                warnings=[
                    *run.warnings,
                    "No reward model was chosen, so the new policy was not evaluated (win rate, "
                    "KL). Start an 'Evaluate policy' run with one.",
                ]
            )
            return None
    return run_create(
        kind=kind,
        base=version,
        snapshot=run.snapshot,
        reward_model=scorer,
        seed=run.seed,
        user=run.created_by,
        accelerate_config=run.accelerate_config,
        parent_run=run,
    )
