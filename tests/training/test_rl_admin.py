"""PPO, GRPO, RLOO and rejection sampling started from the admin, and AI judges as their reward,
with the fake engine (tests/training/fake_engine.py): forms and refusals, the data files and job
spec handed to the engine, and the snapshots recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.models import DatasetSnapshot, Project
from tests.factories import ProjectFactory
from tests.training.support import admin_action, fake_model_dir, policy, use_fake_engine
from training.models import JobStatus, ModelKind, RunKind, TrainingRun
from training.services.runs import run_create
from training.tasks import execute_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def base(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny"))


act = admin_action


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


KIND_FIELD = {
    "run_ppo": 'name="kl_coef"',
    "run_grpo": 'name="num_generations"',
    "run_rloo": 'name="num_generations"',
}


@pytest.mark.parametrize("kind", list(KIND_FIELD))
def test_online_rl_on_a_project_samples_its_prompts_and_scores_with_the_reward_model(
    client, staff, base, rm, project, kind
):
    form = act(client, Project, kind, [project.pk])
    html = form.content.decode()
    assert form.status_code == 200 and 'name="reward_model"' in html
    assert KIND_FIELD[kind] in html

    refused = act(client, Project, kind, [project.pk], apply="yes", base=base.pk, seed=0)
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert not TrainingRun.objects.exists()

    done = act(
        client,
        Project,
        kind,
        [project.pk],
        apply="yes",
        base=base.pk,
        reward_model=rm.pk,
        method="lora",
        max_new_tokens="16",
        eval_fraction="0.25",
        seed=0,
    )
    run = TrainingRun.objects.get()
    assert done.status_code == 302 and done.url == run.get_absolute_url()
    assert (run.project, run.snapshot, run.reward_model, run.method) == (project, None, rm, "lora")
    assert run.hyperparameters["max_new_tokens"] == 16
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    train = _jsonl(Path(run.out_dir) / "train.jsonl")
    held = _jsonl(Path(run.out_dir) / "eval.jsonl")
    assert len(train) == 3 and len(held) == 1  # whole prompts, one held out
    assert {r["prompt_id"] for r in train + held} == set(
        project.prompts.values_list("pk", flat=True)
    )
    assert train[0]["prompt"][0]["role"] == "user"
    spec = json.loads((Path(run.out_dir) / "job.json").read_text())
    assert spec["reward_model"]["path"] == rm.base_model
    assert spec["reference"]["path"] == base.base_model
    new = run.produced_version
    assert (new.parent, new.kind) == (base, ModelKind.POLICY)
    evaluation = run.evaluations.get()
    assert (evaluation.kind, evaluation.reward_model) == (RunKind.EVALUATE_POLICY, rm)


def test_a_project_without_prompts_cannot_feed_online_rl(base, rm):
    run = run_create(kind=RunKind.PPO, base=base, project=ProjectFactory(), reward_model=rm)
    assert run.status == JobStatus.FAILED
    assert "has no prompts to sample from" in run.error


def test_rejection_sampling_records_an_sft_and_a_preference_snapshot(
    client, staff, base, rm, project
):
    form = act(client, Project, "run_rejection_sampling", [project.pk])
    html = form.content.decode()
    assert 'name="num_return_sequences"' in html and 'name="method"' not in html

    act(
        client,
        Project,
        "run_rejection_sampling",
        [project.pk],
        apply="yes",
        base=base.pk,
        reward_model=rm.pk,
        num_return_sequences="6",
        seed=0,
    )
    run = TrainingRun.objects.get()
    assert run.kind == RunKind.REJECTION_SAMPLING
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    sft, pairs = (
        DatasetSnapshot.objects.get(kind="sft"),
        DatasetSnapshot.objects.get(kind="preference"),
    )
    assert run.outputs["snapshots"] == [sft.pk, pairs.pk]
    assert (sft.project, sft.row_count, pairs.row_count) == (project, 4, 4)
    assert sft.format == "conversational"
    assert sft.filters["rejection_sampling_run"] == run.pk
    assert (sft.filters["policy"], sft.filters["reward_model"], sft.filters["k"]) == (
        base.name,
        rm.name,
        6,
    )
    import datasets

    rows = datasets.load_from_disk(str(Path(pairs.path) / pairs.files["dataset"]))
    assert set(rows.column_names) == {"prompt", "chosen", "rejected", "margin"}
    assert rows[0]["chosen"][0]["role"] == "assistant"
    sft_rows = _jsonl(Path(sft.path) / sft.files["jsonl"])
    assert set(sft_rows[0]) == {"prompt", "completion"}
    assert not TrainingRun.objects.filter(kind=RunKind.EVALUATE_POLICY).exists()
    # The SFT snapshot trains like any other: the admin offers it to "Run SFT".
    page = act(client, Project, "run_sft", [project.pk]).content.decode()
    assert f'value="{sft.pk}"' in page


def test_rejection_sampling_without_any_pair_records_only_the_sft_snapshot(tmp_path, rm, project):
    sampler = policy(fake_model_dir(tmp_path / "p", pairs_for=0), name="p")
    run = run_create(
        kind=RunKind.REJECTION_SAMPLING, base=sampler, project=project, reward_model=rm
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert list(DatasetSnapshot.objects.values_list("kind", flat=True)) == ["sft"]


def _judge(kind: str = "openai", **fields):
    from judges.services.judges import judge_create

    settings = {"base_url": "http://127.0.0.1:9/v1", "model": "rater"} if kind == "openai" else {}
    return judge_create(name=f"judge-{kind}", kind=kind, **{**settings, **fields})


def test_an_ai_judge_can_reward_online_rl_instead_of_a_reward_model(client, staff, base, project):
    judge = _judge(api_key="sk-judge-secret", rubric="Politeness above all.")
    form = act(client, Project, "run_grpo", [project.pk]).content.decode()
    assert 'name="reward_judge"' in form
    refused = act(client, Project, "run_grpo", [project.pk], apply="yes", base=base.pk, seed=0)
    assert "Choose a reward model or a reward judge." in refused.content.decode()

    act(
        client,
        Project,
        "run_grpo",
        [project.pk],
        apply="yes",
        base=base.pk,
        method="full",
        reward_judge=judge.pk,
        seed=0,
    )
    run = TrainingRun.objects.get()
    assert (run.reward_judge, run.reward_model, run.status) == (judge, None, "queued")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    job_file = (Path(run.out_dir) / "job.json").read_text()
    spec = json.loads(job_file)["reward_judge"]
    assert (spec["base_url"], spec["model"]) == ("http://127.0.0.1:9/v1", "rater")
    assert "Politeness above all." in spec["prompt"] and "\u27e6response\u27e7" in spec["prompt"]
    assert "sk-judge-secret" not in job_file  # the key went to the child's environment only
    assert (Path(run.out_dir) / "reward_judge_env.txt").read_text() == "sk-judge-secret"
    assert "No reward model was chosen" in " ".join(run.warnings)


def test_only_endpoint_judges_reward_and_only_online_rl(base, rm, project):
    local = _judge("local_lm", model_version=base)
    run = run_create(kind=RunKind.PPO, base=base, project=project, reward_judge=local)
    assert run.status == JobStatus.FAILED and "OpenAI-compatible endpoint" in run.error
    endpoint = _judge()
    dpo = run_create(
        kind=RunKind.REJECTION_SAMPLING,
        base=base,
        project=project,
        reward_model=rm,
        reward_judge=endpoint,
    )
    assert dpo.status == JobStatus.FAILED and "not a Rejection sampling run" in dpo.error
