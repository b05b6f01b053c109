"""The whole loop from the admin on the tiny offline model, with the real engine: an admin trains a
reward model, then DPO scored by it, on a learnable synthetic preference (polite over rude), and
the new policy generates the next round's candidates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from annotate.models import Project, Response
from annotate.services.import_ import data_import
from tests.factories import ProjectFactory, UserFactory
from tests.training.engine.synthetic import preference_rows
from training.engine.config import config_for
from training.models import GenerationJob, ModelKind, ModelVersion, RunKind, TrainingRun
from training.tasks import execute_generation, execute_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def real_engine(monkeypatch):
    monkeypatch.delenv("PS_ENGINE_MODULE", raising=False)
    monkeypatch.setenv("PS_TRAINING_POLL_INTERVAL", "0.2")


def act(client, action: str, project: Project, **form):
    changelist = reverse("admin:annotate_project_changelist")
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(project.pk)], "apply": "yes", **form}
    return client.post(changelist, data)


def finish(run: TrainingRun) -> TrainingRun:
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def test_admin_trains_a_reward_model_then_dpo_and_the_new_policy_generates(
    client, tiny_model_dir: Path, tmp_path: Path
):
    client.force_login(UserFactory(username="admin-loop", is_staff=True, is_superuser=True))
    project = ProjectFactory()
    data = tmp_path / "polite.jsonl"
    rows = preference_rows("train") + preference_rows("heldout")
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data_import(project=project, file=data, filename=data.name)
    tiny = ModelVersion.objects.create(
        name="tiny", kind=ModelKind.POLICY, base_model=str(tiny_model_dir)
    )

    common = {"max_length": 96, "eval_fraction": 0.2, "logging_steps": 1, "save_steps": 50}
    rm_hyper = {**common, "learning_rate": 1e-3, "max_steps": 16, "per_device_train_batch_size": 8}
    response = act(
        client,
        "train_reward_model",
        project,
        base=tiny.pk,
        method="full",
        seed=0,
        other=json.dumps(rm_hyper),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rm_run = finish(TrainingRun.objects.get(kind=RunKind.REWARD_MODEL))
    finish(TrainingRun.objects.get(parent_run=rm_run))
    rm = rm_run.produced_version
    rm.refresh_from_db()
    assert rm.kind == ModelKind.REWARD_MODEL
    assert rm.metrics["accuracy"] > 0.9

    dpo_hyper = {**common, "learning_rate": 1e-3, "max_steps": 40, "per_device_train_batch_size": 6}
    response = act(
        client,
        "run_dpo",
        project,
        base=tiny.pk,
        reward_model=rm.pk,
        method="full",
        seed=0,
        other=json.dumps(dpo_hyper),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    dpo_run = finish(TrainingRun.objects.get(kind=RunKind.DPO))
    policy = dpo_run.produced_version
    assert policy.parent == tiny
    evaluation = TrainingRun.objects.get(parent_run=dpo_run)
    evaluation.hyperparameters.update(max_prompts=50, samples_per_prompt=4, max_new_tokens=32)
    evaluation.save()
    finish(evaluation)
    policy.refresh_from_db()
    assert policy.metrics["win_rate"] > 0.5
    assert 0 < policy.metrics["kl"] < config_for("evaluate_policy").kl_warning_threshold

    response = act(
        client,
        "generate_candidates",
        project,
        model_version=policy.pk,
        k=2,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=24,
        seed=1,
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = GenerationJob.objects.get()
    assert execute_generation(job.pk) == "succeeded", job.error
    assert Response.objects.filter(model_version=policy).count() >= 2
