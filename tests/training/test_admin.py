"""The admin: actions that start runs and generation, and a run's live page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from annotate.models import DatasetSnapshot, Project, Prompt, Response
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import ProjectFactory, PromptFactory, UserFactory, make_comparison
from tests.training.support import (
    admin_action,
    fake_model_dir,
    make_snapshot,
    policy,
    preference_rows,
    use_fake_engine,
)
from training.models import GenerationJob, JobStatus, RunKind, RunMetric, TrainingRun
from training.services.runs import run_create
from training.tasks import execute_generation, execute_run

pytestmark = pytest.mark.django_db

TRAINING = [
    "train_reward_model",
    "run_sft",
    "run_dpo",
    "run_ppo",
    "run_grpo",
    "run_rloo",
    "run_rejection_sampling",
]
WIRING = {
    Project: [*TRAINING, "generate_candidates"],
    DatasetSnapshot: TRAINING,
    Prompt: ["generate_candidates"],
}


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.mark.parametrize("model", list(WIRING))
def test_the_actions_are_wired_in_the_admin(model):
    present = {getattr(a, "__name__", a) for a in admin.site._registry[model].actions or []}
    assert set(WIRING[model]) <= present


@pytest.fixture
def base(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny"))


act = admin_action


def test_train_reward_model_on_a_snapshot_shows_a_form_then_opens_the_run(client, staff, base):
    snapshot = make_snapshot(ProjectFactory(), preference_rows())

    page = act(client, DatasetSnapshot, "train_reward_model", [snapshot.pk])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Train reward model" in html and 'name="learning_rate"' in html
    assert "center_rewards_coefficient" in html  # the engine's documented hyperparameters

    done = act(
        client,
        DatasetSnapshot,
        "train_reward_model",
        [snapshot.pk],
        apply="yes",
        base=base.pk,
        method="lora",
        learning_rate="0.001",
        lora_r="4",
        seed="3",
    )
    run = TrainingRun.objects.get()
    assert done.status_code == 302 and done.url == run.get_absolute_url()
    assert (run.kind, run.snapshot, run.method, run.seed, run.status) == (
        "reward_model",
        snapshot,
        "lora",
        3,
        "queued",
    )
    assert run.hyperparameters["learning_rate"] == 0.001 and run.hyperparameters["lora_r"] == 4
    assert run.created_by == staff


def test_a_misspelt_hyperparameter_is_a_form_error(client, staff, base):
    snapshot = make_snapshot(ProjectFactory(), preference_rows())
    page = act(
        client,
        DatasetSnapshot,
        "run_dpo",
        [snapshot.pk],
        apply="yes",
        base=base.pk,
        method="full",
        seed="0",
        other='{"betta": 0.5}',
    )
    assert page.status_code == 200
    assert "Did you mean &#x27;beta&#x27;?" in page.content.decode()
    assert not TrainingRun.objects.exists()


def test_run_dpo_on_a_project_exports_its_votes_then_trains(client, staff, base):
    project = ProjectFactory()
    rater = rater_for_user(user=staff)
    for _ in range(4):
        vote_submit(comparison=make_comparison(project=project), rater=rater, choice="a")

    done = act(
        client, Project, "run_dpo", [project.pk], apply="yes", base=base.pk, method="full", seed=0
    )

    run = TrainingRun.objects.get()
    assert done.status_code == 302
    assert run.kind == RunKind.DPO
    assert (run.snapshot.project, run.snapshot.row_count) == (project, 4)


def test_a_project_without_votes_says_there_is_nothing_to_train_on(client, staff, base):
    project = ProjectFactory()
    make_comparison(project=project)
    page = act(
        client,
        Project,
        "run_sft",
        [project.pk],
        apply="yes",
        base=base.pk,
        method="full",
        seed=0,
        follow=True,
    )
    assert not TrainingRun.objects.exists()
    assert "nothing to train on" in page.content.decode()


def test_the_run_page_shows_progress_curves_logs_and_final_metrics(client, staff, base):
    run = run_create(
        kind=RunKind.REWARD_MODEL, base=base, snapshot=make_snapshot(None, preference_rows())
    )
    execute_run(run.pk)

    page = client.get(run.get_absolute_url())

    html = page.content.decode()
    assert page.status_code == 200
    assert '<progress value="100" max="100">' in html
    assert "step 5 / 5 (100%)" in html
    assert 'class="plotly-graph-div"' in html and "Plotly.newPlot" in html
    assert reverse("admin:training_plotly_js") in html
    assert "cdn.plot.ly" not in html
    assert "htmx" in html
    assert "train_loss" in html and "[log] step 5/5 loss=0.2" in html
    assert "hx-trigger" not in html  # finished: no more polling
    assert "Evaluation:" in html  # the evaluation run it queued


def test_a_running_run_polls_its_live_panel(client, staff, base):
    run = run_create(kind=RunKind.SFT, base=base, snapshot=make_snapshot(None, preference_rows()))
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.RUNNING, step=3, total_steps=10, eta_seconds=95
    )
    RunMetric.objects.create(run=run, step=3, values={"loss": 0.7}, logged_at=timezone.now())

    live = client.get(reverse("admin:training_trainingrun_live", args=[run.pk]))

    html = live.content.decode()
    assert 'hx-trigger="every 2s"' in html and 'hx-swap="outerHTML"' in html
    assert '<progress value="30" max="100">' in html and "about 1 min 35 s left" in html
    assert "Plotly.newPlot" in html and "Cancel training run" in html
    assert "<html" not in html  # a fragment


def test_plotly_js_is_served_from_the_installed_package(client, staff):
    response = client.get(reverse("admin:training_plotly_js"))
    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert len(body) > 1_000_000 and b"plotly" in body[:2000].lower()


def test_the_cancel_button_cancels(client, staff, base):
    run = run_create(kind=RunKind.SFT, base=base, snapshot=make_snapshot(None, preference_rows()))
    response = client.post(reverse("admin:training_trainingrun_cancel", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    assert (
        client.get(reverse("admin:training_trainingrun_cancel", args=[run.pk])).status_code == 405
    )


def test_the_resume_button_queues_a_failed_run_again(client, staff, base):
    run = run_create(kind=RunKind.SFT, base=base, snapshot=make_snapshot(None, preference_rows()))
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.FAILED, error="boom")
    client.post(reverse("admin:training_trainingrun_resume", args=[run.pk]))
    run.refresh_from_db()
    assert (run.status, run.error) == (JobStatus.QUEUED, "")


@pytest.mark.parametrize(
    "case, message",
    [
        (
            "unknown model path",
            "Model path /no/such/model (model version &#x27;tiny-fake&#x27;) does not exist",
        ),
        ("empty snapshot", "is empty (0 rows): export votes first"),
        ("lora rank", "LoRA rank 512 is larger than the hidden size 64"),
        # QLoRA without CUDA is refused before a run exists: tests/training/test_refusals.py
    ],
)
def test_a_bad_config_is_explained_on_the_run_page(client, staff, base, case, message):
    if case == "unknown model path":
        base.base_model = "/no/such/model"
        base.save()
    rows = [] if case == "empty snapshot" else preference_rows()
    run = run_create(
        kind=RunKind.DPO,
        base=base,
        snapshot=make_snapshot(None, rows),
        method={"lora rank": "lora", "qlora": "qlora"}.get(case, "full"),
        hyperparameters={"lora_r": 512} if case == "lora rank" else None,
    )
    html = client.get(run.get_absolute_url()).content.decode()
    assert 'data-status="failed"' in html
    assert message in html
    assert "Resume from last checkpoint" in html


def test_viewers_without_the_change_permission_get_no_buttons(client, base):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_trainingrun"))
    client.force_login(viewer)
    run = run_create(kind=RunKind.SFT, base=base, snapshot=make_snapshot(None, preference_rows()))
    assert "Cancel training run" not in client.get(run.get_absolute_url()).content.decode()
    assert (
        client.post(reverse("admin:training_trainingrun_cancel", args=[run.pk])).status_code == 403
    )


def test_generate_k_candidates_on_prompts(client, staff, base):
    project = ProjectFactory()
    prompts = [PromptFactory(project=project) for _ in range(3)]

    page = act(client, Prompt, "generate_candidates", [p.pk for p in prompts[:2]])
    assert page.status_code == 200 and 'name="k"' in page.content.decode()

    done = act(
        client,
        Prompt,
        "generate_candidates",
        [p.pk for p in prompts[:2]],
        apply="yes",
        model_version=base.pk,
        k="3",
        temperature="0.8",
        top_p="0.95",
        max_new_tokens="32",
        seed="5",
    )

    job = GenerationJob.objects.get()
    assert done.status_code == 302 and done.url == job.get_absolute_url()
    assert sorted(job.prompt_ids) == sorted(p.pk for p in prompts[:2])
    execute_generation(job.pk)
    assert Response.objects.filter(prompt__in=prompts[:2], model_version=base).count() == 6
    assert not Response.objects.filter(prompt=prompts[2]).exists()
    html = client.get(job.get_absolute_url()).content.decode()
    assert "6 responses and 6 comparisons" in html


def test_a_user_without_the_permission_cannot_start_runs(client, base):
    from django.contrib.auth.models import Permission

    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_datasetsnapshot"))
    client.force_login(clerk)
    snapshot = make_snapshot(None, preference_rows())
    page = act(client, DatasetSnapshot, "train_reward_model", [snapshot.pk], follow=True)
    assert "You may not start training runs." in page.content.decode()
    assert not TrainingRun.objects.exists()


def test_a_reward_hacking_warning_of_the_evaluation_shows_on_the_training_run(client, staff, base):
    snapshot = make_snapshot(None, preference_rows())
    run = run_create(kind=RunKind.DPO, base=base, snapshot=snapshot)
    TrainingRun.objects.create(
        kind=RunKind.EVALUATE_POLICY,
        base=base,
        parent_run=run,
        status=JobStatus.SUCCEEDED,
        warnings=["Possible reward hacking: win rate 0.92 while KL(policy || parent) is 31.0"],
    )
    html = client.get(run.get_absolute_url()).content.decode()
    assert "Evaluation: Possible reward hacking: win rate 0.92" in html
