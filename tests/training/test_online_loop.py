"""Online RL from the admin on the tiny offline model, judged by an independent judge.

The classic pipeline (InstructGPT's): an admin fine-tunes the tiny model on demonstrations that
answer in both registers, polite and rude (SFT), trains a reward model on the preference (polite
over rude), then runs PPO and GRPO from the SFT policy on the training prompts with it. Each new policy answers held-out prompts (topics never
trained on) head to head with its parent, and a judge that is not the training reward model (the
politeness rule behind an OpenAI-compatible endpoint, through the judges app) votes on every pair:
both policies must beat their parent, and their answers must be politer, not just higher-reward.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from statistics import mean

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from annotate.models import DatasetSnapshot, Project, Response
from annotate.services.import_ import data_import
from judges.services.judges import judge_create
from judges.services.runs import judge_run_create, judge_run_execute
from tests.factories import ProjectFactory, PromptFactory, UserFactory
from tests.judges.fake_openai import FakeOpenAI
from tests.training.engine.synthetic import preference_rows, prompt_rows
from tests.training.politeness import politeness, politeness_judge
from tests.training.support import make_snapshot
from training.models import JobStatus, ModelKind, ModelVersion, RunKind, TrainingRun
from training.selectors import head_to_head
from training.services.generation import generation_create
from training.tasks import execute_generation, execute_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

COMMON = {"max_length": 128, "logging_steps": 1, "save_steps": 1000}
# Enough for the tiny model to answer in whole template sentences, half polite, half rude.
SFT = {**COMMON, "learning_rate": 3e-3, "max_steps": 200, "per_device_train_batch_size": 8}
RM = {**COMMON, "learning_rate": 1e-3, "max_steps": 16, "per_device_train_batch_size": 8}
PPO = {
    **COMMON,
    "eval_fraction": 0.0,
    "max_steps": 20,
    "per_device_train_batch_size": 8,
    "max_new_tokens": 24,
    "num_ppo_epochs": 4,
    "num_mini_batches": 1,
    "learning_rate": 5e-4,
    "kl_coef": 0.05,
}
GRPO = {
    **COMMON,
    "eval_fraction": 0.0,
    "max_steps": 30,
    "per_device_train_batch_size": 4,
    "num_generations": 4,
    "max_new_tokens": 24,
    "learning_rate": 5e-4,
    "beta": 0.04,
}
SAMPLING = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 24, "seed": 7}


@pytest.fixture(autouse=True)
def real_engine(monkeypatch):
    monkeypatch.delenv("PS_ENGINE_MODULE", raising=False)
    monkeypatch.setenv("PS_TRAINING_POLL_INTERVAL", "0.2")


def act(client, action: str, target: Project | DatasetSnapshot, **form):
    meta = target._meta
    changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(target.pk)], "apply": "yes", **form}
    response = client.post(changelist, data)
    errors = re.findall(r'<ul class="errorlist[^"]*">(.*?)</ul>', response.content.decode(), re.S)
    assert response.status_code == 302, errors
    return response


def finish(run: TrainingRun) -> TrainingRun:
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run


def answers(project: Project, version: ModelVersion, *, pair_with: ModelVersion | None = None):
    job = generation_create(
        project=project, model_version=version, k=2, params=SAMPLING, pair_with=pair_with
    )
    assert execute_generation(job.pk) == JobStatus.SUCCEEDED, job.error
    return [r.text for r in Response.objects.filter(prompt__project=project, model_version=version)]


def train_online(client, kind: str, project: Project, base: ModelVersion, rm, hyper: dict):
    act(
        client,
        f"run_{kind}",
        project,
        base=base.pk,
        reward_model=rm.pk,
        method="full",
        seed=0,
        other=json.dumps(hyper),
    )
    run = finish(TrainingRun.objects.get(kind=kind))
    points = run.metric_points.filter(kind="log")
    rewards = [p.values["reward"] for p in points if "reward" in p.values]
    assert len(rewards) >= 10, [p.values for p in points[:3]]
    return run, rewards


def _polite_projects_and_sft_policy(client, tiny_model_dir: Path, tmp_path: Path):
    """(train project with the preference votes, held-out prompts project, tiny, SFT policy)."""
    client.force_login(UserFactory(username="rl-admin", is_staff=True, is_superuser=True))
    train = ProjectFactory(name="Polite (train)")
    data = tmp_path / "polite.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in preference_rows("train")), "utf-8")
    data_import(project=train, file=data, filename=data.name)
    heldout = ProjectFactory(name="Polite (held out)")
    for row in prompt_rows("heldout"):
        PromptFactory(project=heldout, messages=row["prompt"])
    tiny = ModelVersion.objects.create(
        name="tiny", kind=ModelKind.POLICY, base_model=str(tiny_model_dir)
    )
    both_registers = [
        {"prompt": row["prompt"], "completion": row[side]}
        for row in preference_rows("train")
        for side in ("chosen", "rejected")
    ]
    demonstrations = make_snapshot(train, both_registers, kind="sft", name="both-registers")
    act(
        client,
        "run_sft",
        demonstrations,
        base=tiny.pk,
        method="full",
        seed=0,
        other=json.dumps({**SFT, "eval_fraction": 0.0}),
    )
    sft = finish(TrainingRun.objects.get(kind=RunKind.SFT)).produced_version
    return train, heldout, tiny, sft


def test_ppo_and_grpo_from_the_admin_beat_their_parent_by_an_independent_judge(
    client, tiny_model_dir: Path, tmp_path: Path
):
    train, heldout, tiny, sft = _polite_projects_and_sft_policy(client, tiny_model_dir, tmp_path)

    act(
        client,
        "train_reward_model",
        train,
        base=tiny.pk,
        method="full",
        seed=0,
        other=json.dumps({**RM, "eval_fraction": 0.2}),
    )
    rm = finish(TrainingRun.objects.get(kind=RunKind.REWARD_MODEL)).produced_version

    ppo_run, ppo_rewards = train_online(client, "ppo", train, sft, rm, PPO)
    grpo_run, grpo_rewards = train_online(client, "grpo", train, sft, rm, GRPO)
    ppo, grpo = ppo_run.produced_version, grpo_run.produced_version
    assert ppo.parent == sft and grpo.parent == sft
    # Measured (2 cores): PPO 0.78 (134 wins, 27 losses, 33 ties), GRPO 0.69 (101/36/33); the
    # politeness of the held-out answers went from 0.04 to 2.1 and 1.9.

    parent_texts = answers(heldout, sft)
    ppo_texts = answers(heldout, ppo, pair_with=sft)
    grpo_texts = answers(heldout, grpo, pair_with=sft)
    with FakeOpenAI() as server:
        server.responder = politeness_judge
        judge = judge_create(
            name="politeness-rule",
            kind="openai",
            base_url=server.base_url,
            model="politeness-rule-1",
            api_key="sk-local",
            concurrency=8,
        )
        judging = judge_run_execute(
            run_id=judge_run_create(judge=judge, project=heldout, enqueue=False).pk
        )
    assert judging.status == JobStatus.SUCCEEDED, judging.error

    report = {"parent politeness": mean(map(politeness, parent_texts))}
    for name, version, texts, rewards, run in (
        ("ppo", ppo, ppo_texts, ppo_rewards, ppo_run),
        ("grpo", grpo, grpo_texts, grpo_rewards, grpo_run),
    ):
        (judged,) = [
            r for r in head_to_head(version=version, opponent=sft) if r.rater == judge.rater.name
        ]
        report[name] = {
            "judge win rate vs parent": round(judged.win_rate, 3),
            "judge votes (w/l/t)": (judged.wins, judged.losses, judged.ties),
            "politeness": round(mean(map(politeness, texts)), 3),
            "train reward first/last 5 steps": (
                round(mean(rewards[:5]), 3),
                round(mean(rewards[-5:]), 3),
            ),
            "final metrics": {
                k: round(v, 3) for k, v in run.final_metrics.items() if isinstance(v, float)
            },
        }
    print("online RL judged head to head:", json.dumps(report, indent=1))
    for name in ("ppo", "grpo"):
        assert report[name]["judge win rate vs parent"] >= 0.6, report
        assert report[name]["politeness"] > report["parent politeness"], report
        first, last = report[name]["train reward first/last 5 steps"]
        assert last > first, report
    # KL(policy || SFT parent) per completion stays bounded (measured 9.8 nats over 24 tokens).
    assert ppo_run.final_metrics["train_kl"] < 20.0, report


def test_grpo_rewarded_by_an_ai_judge_makes_the_policy_politer(
    client, tiny_model_dir: Path, tmp_path: Path
):
    """RLAIF: no reward model at all; a judge on an OpenAI-compatible endpoint scores every
    sampled completion (its key reaching the engine child through the environment only)."""
    train, heldout, _, sft = _polite_projects_and_sft_policy(client, tiny_model_dir, tmp_path)
    with FakeOpenAI(politeness_judge, api_key="sk-judge-key") as server:
        judge = judge_create(
            name="politeness-scorer",
            kind="openai",
            base_url=server.base_url,
            model="politeness-rule-1",
            api_key="sk-judge-key",
            concurrency=8,
        )
        act(
            client,
            "run_grpo",
            train,
            base=sft.pk,
            reward_judge=judge.pk,
            method="full",
            seed=0,
            other=json.dumps(GRPO),
        )
        run = finish(TrainingRun.objects.get(kind=RunKind.GRPO))
        asked = len(server.requests)
    points = run.metric_points.filter(kind="log")
    rewards = [p.values["reward"] for p in points if "reward" in p.values]
    policy = run.produced_version
    parent_texts = answers(heldout, sft)
    texts = answers(heldout, policy)
    report = {
        "judge requests": asked,
        "train reward first/last 5 steps": (
            round(mean(rewards[:5]), 3),
            round(mean(rewards[-5:]), 3),
        ),
        "politeness parent/policy": (
            round(mean(map(politeness, parent_texts)), 3),
            round(mean(map(politeness, texts)), 3),
        ),
    }
    print("RLAIF GRPO:", report)
    assert (
        asked >= GRPO["max_steps"] * GRPO["per_device_train_batch_size"] * GRPO["num_generations"]
    )
    assert mean(rewards[-5:]) > mean(rewards[:5]), report
    assert report["politeness parent/policy"][1] > report["politeness parent/policy"][0] + 1.0, (
        report
    )
