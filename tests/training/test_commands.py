"""`manage.py train` and `manage.py generate_candidates` (with the fake engine)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Response
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import ProjectFactory, PromptFactory, UserFactory, make_comparison
from tests.training.support import fake_model_dir, policy, use_fake_engine
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def base(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny"), name="tiny")


def test_train_in_the_foreground_exports_trains_and_evaluates(base):
    project = ProjectFactory(slug="polite")
    rater = rater_for_user(user=UserFactory())
    for _ in range(4):
        vote_submit(comparison=make_comparison(project=project), rater=rater, choice="a")
    out = StringIO()

    call_command(
        "train",
        "--kind=reward_model",
        "--base=tiny",
        "--project=polite",
        "--set",
        "learning_rate=0.0002",
        "--foreground",
        stdout=out,
    )

    text = out.getvalue()
    run = TrainingRun.objects.get(kind="reward_model")
    assert run.status == "succeeded" and run.hyperparameters["learning_rate"] == 0.0002
    assert f"Run {run.pk} succeeded" in text and "new model version: tiny-rm-" in text
    assert "accuracy=0.95" in text  # its evaluation ran too


def test_rejection_sampling_from_the_command_line_samples_the_projects_prompts(base, tmp_path):
    project = ProjectFactory(slug="chat")
    PromptFactory(project=project)
    PromptFactory(project=project)
    policy(fake_model_dir(tmp_path / "rm"), name="rm", kind="reward_model")
    out = StringIO()

    call_command(
        "train",
        "--kind=rejection_sampling",
        "--base=tiny",
        "--project=chat",
        "--reward-model=rm",
        "--foreground",
        stdout=out,
    )

    run = TrainingRun.objects.get(kind="rejection_sampling")
    assert (run.status, run.project, run.snapshot) == ("succeeded", project, None)
    assert out.getvalue().count("new dataset snapshot") == 2
    assert sorted(project.snapshots.values_list("kind", "row_count")) == [
        ("preference", 2),
        ("sft", 2),
    ]


def test_train_refuses_what_cannot_run(base):
    with pytest.raises(CommandError, match="No model version named 'nope'"):
        call_command("train", "--kind=sft", "--base=nope")
    with pytest.raises(CommandError, match="needs a dataset snapshot"):
        call_command("train", "--kind=sft", "--base=tiny")
    with pytest.raises(CommandError, match="Did you mean 'beta'"):
        call_command("train", "--kind=dpo", "--base=tiny", "--set", "betaa=1")


def test_generate_candidates_in_the_foreground(base):
    project = ProjectFactory(slug="demo")
    PromptFactory(project=project)
    out = StringIO()
    call_command(
        "generate_candidates",
        "--project=demo",
        "--model=tiny",
        "-k",
        "3",
        "--foreground",
        stdout=out,
    )
    assert "3 responses, 3 comparisons" in out.getvalue()
    assert Response.objects.filter(model_version=base).count() == 3
