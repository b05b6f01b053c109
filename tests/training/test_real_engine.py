"""The platform driving the real engine on the tiny model: RM, then DPO scored by it, then the new
policy generating candidates for the next round. Few steps: this checks the plumbing (events,
curves, lineage, evaluation, generation), not how well the models learn (tests/training/engine/).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.models import Comparison, Response
from tests.factories import ProjectFactory, PromptFactory
from tests.training.engine.synthetic import preference_rows
from tests.training.support import make_snapshot
from training.models import ModelKind, ModelVersion, RunKind, RunMetric, TrainingRun
from training.services.generation import generation_create
from training.services.runs import run_create
from training.tasks import execute_generation, execute_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

FEW_STEPS = {"max_steps": 6, "per_device_train_batch_size": 4, "max_length": 128}


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.delenv("PS_ENGINE_MODULE", raising=False)
    monkeypatch.setenv("PS_TRAINING_POLL_INTERVAL", "0.2")


def run_to_end(run: TrainingRun) -> TrainingRun:
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def evaluation_of(run: TrainingRun) -> TrainingRun:
    return run_to_end(TrainingRun.objects.get(parent_run=run))


def test_reward_model_then_dpo_then_generation_with_the_real_engine(tiny_model_dir: Path):
    project = ProjectFactory()
    snapshot = make_snapshot(project, preference_rows("train", n=40))
    tiny = ModelVersion.objects.create(
        name="tiny", kind=ModelKind.POLICY, base_model=str(tiny_model_dir)
    )

    rm_run = run_to_end(
        run_create(
            kind=RunKind.REWARD_MODEL, base=tiny, snapshot=snapshot, hyperparameters=FEW_STEPS
        )
    )
    assert (rm_run.step, rm_run.total_steps) == (6, 6)
    assert RunMetric.objects.filter(run=rm_run, kind="log", values__has_key="loss").count() >= 6
    assert rm_run.last_checkpoint_step == 6
    rm = rm_run.produced_version
    assert rm.kind == ModelKind.REWARD_MODEL and Path(rm.base_model, "config.json").is_file()
    evaluation_of(rm_run)
    rm.refresh_from_db()
    assert 0.0 <= rm.metrics["accuracy"] <= 1.0 and "mean_margin" in rm.metrics

    dpo_run = run_to_end(
        run_create(
            kind=RunKind.DPO,
            base=tiny,
            snapshot=snapshot,
            method="lora",
            reward_model=rm,
            hyperparameters={**FEW_STEPS, "learning_rate": 1e-3},
        )
    )
    policy = dpo_run.produced_version
    assert policy.parent == tiny and policy.adapter_path
    spec = json.loads((Path(dpo_run.out_dir) / "job.json").read_text())
    assert spec["reference"]["path"] == str(tiny_model_dir)
    evaluation = TrainingRun.objects.get(parent_run=dpo_run)
    evaluation.hyperparameters.update(max_prompts=4, max_new_tokens=16)
    evaluation.save()
    evaluation_of(dpo_run)
    policy.refresh_from_db()
    assert {"win_rate", "kl"} <= set(policy.metrics)

    prompts = [PromptFactory(project=project) for _ in range(2)]
    job = generation_create(
        project=project, model_version=policy, k=2, params={"max_new_tokens": 12, "seed": 1}
    )
    assert execute_generation(job.pk) == "succeeded", job.error
    generated = Response.objects.filter(model_version=policy, prompt__in=prompts)
    assert generated.count() >= 2
    assert Comparison.objects.filter(prompt__in=prompts).exists()
    assert generated.first().generation_params["finish_reason"] in ("stop", "length")


def test_a_lora_rank_above_the_hidden_size_is_refused_before_loading_anything(tiny_model_dir):
    tiny = ModelVersion.objects.create(name="tiny", base_model=str(tiny_model_dir))
    hidden = json.loads((tiny_model_dir / "config.json").read_text())["hidden_size"]
    run = run_create(
        kind=RunKind.SFT,
        base=tiny,
        snapshot=make_snapshot(None, preference_rows("train", n=8)),
        method="lora",
        hyperparameters={"lora_r": hidden * 2},
    )
    assert run.status == "failed"
    assert f"LoRA rank {hidden * 2} is larger than the hidden size {hidden}" in run.error
