"""Run requests that cannot work are refused before anything is created, exported or queued,
with the field named: a form error in the admin, 400 in the API, a CommandError from `train`."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from annotate.models import DatasetSnapshot
from tests.factories import ProjectFactory, UserFactory
from tests.training.support import (
    admin_action,
    fake_model_dir,
    make_snapshot,
    policy,
    preference_rows,
    use_fake_engine,
)
from tests.training.test_apis import urlpatterns  # noqa: F401  (this module's URLconf)
from training.models import TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.training.test_apis")]

MISSING_CONFIG = "/nonexistent/accelerate.yaml"
# (what is wrong, API body fields, the field named, words in the message)
BAD = {
    "zero epochs": (
        {"hyperparameters": {"num_train_epochs": 0}},
        "hyperparameters",
        "num_train_epochs",
    ),
    "negative epochs": (
        {"hyperparameters": {"num_train_epochs": -2}},
        "hyperparameters",
        "num_train_epochs",
    ),
    "negative max_steps": ({"hyperparameters": {"max_steps": -5}}, "hyperparameters", "max_steps"),
    "zero max_steps": ({"hyperparameters": {"max_steps": 0}}, "hyperparameters", "max_steps"),
    "seed out of range": ({"seed": 2**33}, "seed", "seed"),
    "negative seed": ({"seed": -1}, "seed", "seed"),
    "missing accelerate config": (
        {"accelerate_config": MISSING_CONFIG},
        "accelerate_config",
        "does not exist",
    ),
    "QLoRA without CUDA": ({"method": "qlora"}, "method", "QLoRA needs a CUDA GPU"),
}


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def base(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny"))


@pytest.mark.parametrize("case", BAD)
def test_the_api_refuses_with_the_field_and_creates_nothing(base, case):
    body, field, words = BAD[case]
    api = APIClient()
    api.force_authenticate(UserFactory(username="ops", is_staff=True))
    snapshot = make_snapshot(None, preference_rows())
    answer = api.post(
        "/api/training/runs/",
        {"kind": "dpo", "base": base.pk, "snapshot": snapshot.pk, **body},
        format="json",
    )
    assert answer.status_code == 400, answer.content
    error = answer.json()
    assert error["field"] == field or field in error, error
    assert words in str(error)
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize("case", BAD)
def test_the_admin_form_refuses_before_exporting_anything(client, base, case):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    project = ProjectFactory()
    body, _, words = BAD[case]
    form = {"method": "full", "seed": "0"}
    hyper = body.get("hyperparameters", {})
    form.update({k: str(v) for k, v in hyper.items() if k in ("num_train_epochs", "max_steps")})
    form.update({k: str(v) for k, v in body.items() if k != "hyperparameters"})
    if "max_steps" in hyper and "max_steps" not in form:
        form["other"] = f'{{"max_steps": {hyper["max_steps"]}}}'
    page = admin_action(
        client, type(project), "run_dpo", [project.pk], apply="yes", base=base.pk, **form
    )
    assert page.status_code == 200
    assert words in page.content.decode().replace("&#x27;", "'")
    assert not TrainingRun.objects.exists()
    assert not DatasetSnapshot.objects.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "num_train_epochs=0"], "num_train_epochs"),
        (["--seed", str(2**33)], "seed"),
        (["--accelerate-config", MISSING_CONFIG], "does not exist"),
        (["--method", "qlora"], "QLoRA needs a CUDA GPU"),
    ],
)
def test_train_checks_its_options_before_exporting_a_snapshot(base, args, words):
    project = ProjectFactory(slug="p1")
    with pytest.raises(CommandError, match=words):
        call_command(
            "train", "--kind", "dpo", "--project", project.slug, "--base", base.name, *args
        )
    assert not DatasetSnapshot.objects.exists()
    assert not TrainingRun.objects.exists()
