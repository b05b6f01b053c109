"""Training runs through the task body (no queue): the engine child is the fake engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.errors import ValidationError
from tests.factories import ProjectFactory
from tests.training.support import (
    fake_model_dir,
    make_snapshot,
    policy,
    preference_rows,
    use_fake_engine,
)
from training.models import JobStatus, ModelKind, RunKind, RunMetric, TrainingRun
from training.services.runs import run_cancel, run_create, run_resume
from training.tasks import execute_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def base(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny"))


@pytest.fixture
def behaving(tmp_path: Path):
    """A base model on which the fake engine behaves as told."""
    return lambda **behaviour: policy(fake_model_dir(tmp_path / "odd", **behaviour), name="odd")


@pytest.fixture
def snapshot():
    return make_snapshot(ProjectFactory(), preference_rows(prompts=10, pairs=2))


def test_a_reward_model_run_records_progress_curves_and_a_new_version(base, snapshot):
    run = run_create(kind=RunKind.REWARD_MODEL, base=base, snapshot=snapshot)
    assert run.status == JobStatus.QUEUED

    assert execute_run(run.pk) == JobStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.step, run.total_steps, run.progress_percent) == ("succeeded", 5, 5, 100)
    assert run.final_metrics["train_loss"] == 0.4
    assert run.last_checkpoint_step == 4 and run.last_checkpoint.endswith("step-4")
    losses = list(RunMetric.objects.filter(run=run, kind="log").values_list("step", "values__loss"))
    assert losses == [(s, pytest.approx(1.0 / s)) for s in range(1, 6)]
    assert RunMetric.objects.filter(run=run, kind="eval").count() == 1
    assert "[log] step 5/5" in run.log_tail
    version = run.produced_version
    assert (version.kind, version.parent, version.base_model) == (
        ModelKind.REWARD_MODEL,
        base,
        str(Path(run.out_dir) / "model"),
    )


def test_a_new_reward_model_is_evaluated_on_prompts_it_never_trained_on(base, snapshot):
    run = run_create(kind=RunKind.REWARD_MODEL, base=base, snapshot=snapshot)
    execute_run(run.pk)
    evaluation = TrainingRun.objects.get(parent_run=run)
    assert (evaluation.kind, evaluation.status) == (RunKind.EVALUATE_REWARD_MODEL, "queued")

    assert execute_run(evaluation.pk) == JobStatus.SUCCEEDED

    spec = json.loads((Path(evaluation.out_dir) / "job.json").read_text())
    train = [json.loads(x) for x in (Path(run.out_dir) / "train.jsonl").read_text().splitlines()]
    held = [json.loads(x) for x in Path(spec["eval_file"]).read_text().splitlines()]
    assert spec["eval_file"] == str(Path(run.out_dir) / "eval.jsonl")
    assert len(train) + len(held) == 20 and held
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
    version = run.produced_version
    version.refresh_from_db()
    assert version.metrics["accuracy"] == 0.95
    assert version.metrics["evaluated_by_run"] == evaluation.pk


def test_a_dpo_policy_is_evaluated_against_its_parent_by_the_chosen_reward_model(
    base, snapshot, tmp_path
):
    scorer = policy(fake_model_dir(tmp_path / "rm"), name="rm", kind=ModelKind.REWARD_MODEL)
    run = run_create(kind=RunKind.DPO, base=base, snapshot=snapshot, reward_model=scorer)
    execute_run(run.pk)
    evaluation = TrainingRun.objects.get(parent_run=run)
    execute_run(evaluation.pk)

    spec = json.loads((Path(evaluation.out_dir) / "job.json").read_text())
    assert spec["kind"] == "evaluate_policy"
    assert spec["model"]["path"] == str(Path(run.out_dir) / "model")
    assert spec["reference"]["path"] == base.base_model
    assert spec["reward_model"]["path"] == scorer.base_model
    assert run.produced_version.parent == base
    run.produced_version.refresh_from_db()
    assert run.produced_version.metrics["win_rate"] == 0.62


def test_dpo_without_a_reward_model_says_its_policy_was_not_evaluated(base, snapshot):
    run = run_create(kind=RunKind.DPO, base=base, snapshot=snapshot)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert not TrainingRun.objects.filter(parent_run=run).exists()
    assert "not evaluated" in run.warnings[-1]


def test_hyperparameters_start_from_the_kinds_defaults(base, snapshot):
    run = run_create(
        kind=RunKind.DPO, base=base, snapshot=snapshot, method="lora", hyperparameters={"beta": 0.3}
    )
    assert run.hyperparameters["beta"] == 0.3
    assert run.hyperparameters["loss_type"] == "sigmoid"
    assert run.hyperparameters["lora_r"] == 8
    with pytest.raises(ValidationError, match="eval_fraction"):
        run_create(kind="sft", base=base, snapshot=snapshot, hyperparameters={"eval_fraction": 2})
    with pytest.raises(ValidationError, match="Did you mean 'beta'"):
        run_create(kind="dpo", base=base, snapshot=snapshot, hyperparameters={"betta": 0.2})
    with pytest.raises(ValidationError, match="must be float"):
        run_create(kind="dpo", base=base, snapshot=snapshot, hyperparameters={"beta": "high"})


def test_an_engine_error_fails_the_run_with_its_message(behaving, snapshot):
    run = run_create(kind=RunKind.SFT, base=behaving(fail_at=3), snapshot=snapshot)
    assert execute_run(run.pk) == JobStatus.FAILED
    run.refresh_from_db()
    assert run.error == "fake failure at step 3: the loss became NaN"
    assert run.finished_at and run.step == 2


def test_a_crash_without_an_error_event_reports_exit_code_and_output(behaving, snapshot):
    run = run_create(kind=RunKind.SFT, base=behaving(crash_at=2), snapshot=snapshot)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "exited with code 3" in run.error
    assert "RuntimeError: fake crash" in run.error


def test_a_failed_run_resumes_from_its_last_checkpoint(behaving, snapshot):
    base = behaving(fail_at=3, fail_once=True)
    run = run_create(kind=RunKind.REWARD_MODEL, base=base, snapshot=snapshot)
    execute_run(run.pk)
    run.refresh_from_db()
    assert (run.status, run.last_checkpoint_step) == ("failed", 2)

    run_resume(run=run)
    assert execute_run(run.pk) == JobStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == ("succeeded", 2, "")
    steps = list(RunMetric.objects.filter(run=run, kind="log").values_list("step", flat=True))
    assert steps == [1, 2, 3, 4, 5]  # steps 1-2 from the first try, 3-5 after the checkpoint
    lines = (Path(run.out_dir) / "events.jsonl").read_text().splitlines()
    starts = [json.loads(line)["step"] for line in lines if '"event": "start"' in line]
    assert starts == [0, 2]


def test_cancelling_a_queued_run_means_it_never_starts(base, snapshot):
    run = run_create(kind=RunKind.SFT, base=base, snapshot=snapshot)
    run_cancel(run=run)
    assert run.status == "cancelled"
    assert execute_run(run.pk) == "skipped"
    with pytest.raises(ValidationError, match="already cancelled"):
        run_cancel(run=run)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"base_model": "/nowhere/model"}, "Model path /nowhere/model"),
        ({"rows": []}, "is empty (0 rows)"),
        (
            {"method": "lora", "hp": {"lora_r": 128}},
            "LoRA rank 128 is larger than the hidden size 64",
        ),
        # QLoRA without CUDA is refused before a run exists: tests/training/test_refusals.py
        ({"snapshot_kind": "kto"}, "holds kto rows"),
    ],
)
def test_a_bad_config_fails_at_once_with_what_to_change(base, change, message):
    if "base_model" in change:
        base.base_model = change["base_model"]
        base.save()
    snapshot = make_snapshot(
        ProjectFactory(),
        change.get("rows", preference_rows()),
        kind=change.get("snapshot_kind", "preference"),
    )
    run = run_create(
        kind=RunKind.DPO,
        base=base,
        snapshot=snapshot,
        method=change.get("method", "full"),
        hyperparameters=change.get("hp"),
    )
    assert run.status == JobStatus.FAILED
    assert message in run.error
    assert run.finished_at is not None
    assert execute_run(run.pk) == "skipped"  # nothing was queued, and nothing would start


def test_a_database_hiccup_while_training_is_retried_not_fatal(base, snapshot, monkeypatch):
    from django.db import OperationalError

    from training.services import execution

    real, calls = execution.owned, {"n": 0}

    def flaky(job):
        calls["n"] += 1
        if calls["n"] in (2, 3):
            raise OperationalError("database is locked")
        return real(job)

    monkeypatch.setattr(execution, "owned", flaky)
    run = run_create(kind=RunKind.SFT, base=base, snapshot=snapshot)
    assert execute_run(run.pk) == JobStatus.SUCCEEDED
    assert calls["n"] > 3
    assert RunMetric.objects.filter(run=run, kind="log").count() == 5  # no point lost


def test_the_engine_command_uses_accelerate_launch_when_configured(tmp_path, settings):
    from training.services.launcher import accelerate_config_for, engine_command

    spec = tmp_path / "job.json"
    assert engine_command(spec)[1:] == ["-m", "tests.training.fake_engine", str(spec)]
    settings.ACCELERATE_CONFIG = "/etc/accelerate/4gpu.yaml"
    command = engine_command(spec, accelerate_config=accelerate_config_for(""))
    assert command[1:] == [
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        "/etc/accelerate/4gpu.yaml",
        "-m",
        "tests.training.fake_engine",
        str(spec),
    ]
    assert accelerate_config_for("/mine.yaml") == "/mine.yaml"  # the run's own wins


@pytest.mark.slow
def test_a_run_launched_through_accelerate_trains_and_cancels(base, snapshot, tmp_path):
    config = tmp_path / "cpu.yaml"
    config.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\n"
        "num_machines: 1\nmixed_precision: 'no'\nuse_cpu: true\n"
    )
    run = run_create(kind=RunKind.SFT, base=base, snapshot=snapshot, accelerate_config=str(config))
    assert execute_run(run.pk) == JobStatus.SUCCEEDED, TrainingRun.objects.get(pk=run.pk).error
    run.refresh_from_db()
    assert run.step == 5
    assert "fake engine: sft from step 0" in (Path(run.out_dir) / "child.log").read_text()


def test_online_rl_runs_need_a_reward_model_and_get_one_with_a_reference(base, snapshot, tmp_path):
    lonely = run_create(kind=RunKind.PPO, base=base, snapshot=snapshot)
    assert lonely.status == "failed" and "needs a reward model to score with" in lonely.error

    scorer = policy(fake_model_dir(tmp_path / "rm"), name="rm", kind=ModelKind.REWARD_MODEL)
    run = run_create(kind=RunKind.GRPO, base=base, snapshot=snapshot, reward_model=scorer)
    assert execute_run(run.pk) == JobStatus.SUCCEEDED
    spec = json.loads((Path(run.out_dir) / "job.json").read_text())
    assert (spec["kind"], spec["reward_model"]["path"], spec["reference"]["path"]) == (
        "grpo",
        scorer.base_model,
        base.base_model,
    )
