"""/api/training/: runs, model versions, generation jobs over REST (staff only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import include, path
from rest_framework.test import APIClient

from config import urls as project_urls
from tests.factories import ProjectFactory, PromptFactory, UserFactory
from tests.training.support import (
    fake_model_dir,
    make_snapshot,
    policy,
    preference_rows,
    use_fake_engine,
)
from training.models import Round, TrainingRun
from training.tasks import execute_run

# This module is also the URLconf of its tests: the project's, plus /api/training/ until
# config/urls.py includes it.
_wired = any(getattr(p, "namespace", None) == "training-api" for p in project_urls.urlpatterns)
urlpatterns = [
    *([] if _wired else [path("api/training/", include("training.api_urls"))]),
    *project_urls.urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(UserFactory(username="ops", is_staff=True))
    return client


@pytest.fixture
def base(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny"))


def test_create_a_run_follow_it_and_read_its_curves(api, base):
    snapshot = make_snapshot(None, preference_rows())
    created = api.post(
        "/api/training/runs/",
        {
            "kind": "reward_model",
            "base": base.pk,
            "snapshot": snapshot.pk,
            "hyperparameters": {"learning_rate": 0.0003},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    run_id = created.json()["id"]
    assert created.json()["status"] == "queued"
    assert created.json()["hyperparameters"]["learning_rate"] == 0.0003

    execute_run(run_id)

    detail = api.get(f"/api/training/runs/{run_id}/").json()
    assert (detail["status"], detail["progress_percent"], detail["step"]) == ("succeeded", 100, 5)
    assert detail["produced_version"] is not None
    points = api.get(f"/api/training/runs/{run_id}/metrics/").json()
    assert [p["step"] for p in points if p["kind"] == "log"] == [1, 2, 3, 4, 5]
    version = api.get(f"/api/training/models/{detail['produced_version']}/").json()
    assert (version["kind"], version["parent"]) == ("reward_model", base.pk)
    listed = api.get("/api/training/models/?kind=reward_model").json()
    assert [v["id"] for v in listed["results"]] == [version["id"]]


def test_a_run_that_cannot_work_is_created_failed_with_the_reason(api, base):
    empty = make_snapshot(None, [])
    response = api.post(
        "/api/training/runs/",
        {"kind": "sft", "base": base.pk, "snapshot": empty.pk},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "failed"
    assert "is empty (0 rows)" in response.json()["error"]


def test_malformed_requests_are_400s_naming_the_field(api, base):
    response = api.post(
        "/api/training/runs/",
        {"kind": "dpo", "base": base.pk, "hyperparameters": {"bta": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "hyperparameters"
    assert "Did you mean 'beta'" in response.json()["detail"]
    response = api.post("/api/training/runs/", {"kind": "magic", "base": base.pk}, format="json")
    assert (response.status_code, response.json()["field"]) == (400, "kind")


def test_cancel_and_resume(api, base):
    snapshot = make_snapshot(None, preference_rows())
    run_id = api.post(
        "/api/training/runs/",
        {"kind": "sft", "base": base.pk, "snapshot": snapshot.pk},
        format="json",
    ).json()["id"]
    assert api.post(f"/api/training/runs/{run_id}/cancel/").json()["status"] == "cancelled"
    again = api.post(f"/api/training/runs/{run_id}/cancel/")
    assert again.status_code == 400 and "already cancelled" in again.json()["detail"]
    assert api.post(f"/api/training/runs/{run_id}/resume/").json()["status"] == "queued"
    assert TrainingRun.objects.get(pk=run_id).status == "queued"


def test_generation_jobs(api, base):
    project = ProjectFactory()
    prompt = PromptFactory(project=project)
    response = api.post(
        "/api/training/generations/",
        {"project": project.pk, "model_version": base.pk, "k": 2, "prompts": [prompt.pk]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    assert api.get(f"/api/training/generations/{job_id}/").json()["prompt_ids"] == [prompt.pk]
    assert api.post(f"/api/training/generations/{job_id}/cancel/").json()["status"] == "cancelled"
    assert api.get("/api/training/generations/").json()["count"] == 1


@pytest.mark.parametrize("who", ["anonymous", "annotator"])
def test_only_staff_may_use_it(who):
    client = APIClient()
    if who == "annotator":
        client.force_authenticate(UserFactory(username="annie"))
    version = policy(Path("/nonexistent"), name="v")
    round_ = Round.objects.create(project=ProjectFactory(), number=1, policy=version)
    for url in (
        "/api/training/runs/",
        "/api/training/models/",
        "/api/training/generations/",
        "/api/training/rounds/",
        f"/api/training/rounds/{round_.pk}/",
        f"/api/training/models/{version.pk}/head-to-head/?opponent={version.pk}",
    ):
        assert client.get(url).status_code in (401, 403), url
    for url in ("/api/training/rounds/", f"/api/training/rounds/{round_.pk}/next/"):
        assert client.post(url, {}, format="json").status_code in (401, 403), url
    assert Round.objects.count() == 1


def test_online_rl_on_a_project_and_rounds_over_rest(api, base, tmp_path):
    project = ProjectFactory()
    PromptFactory(project=project)
    rm = policy(fake_model_dir(tmp_path / "rm"), name="rm", kind="reward_model")
    first = api.post(
        "/api/training/rounds/", {"project": project.pk, "policy": base.pk}, format="json"
    )
    assert first.status_code == 201, first.json()
    assert first.json()["number"] == 1
    run = api.post(
        "/api/training/runs/",
        {"kind": "ppo", "base": base.pk, "project": project.pk, "reward_model": rm.pk},
        format="json",
    ).json()
    assert (run["status"], run["project"], run["round"]) == (
        "queued",
        project.pk,
        first.json()["id"],
    )
    execute_run(run["id"])
    detail = api.get(f"/api/training/rounds/{first.json()['id']}/").json()
    (produced,) = detail["versions"]
    assert produced["run"] == run["id"] and detail["best"] == base.pk  # not evaluated yet
    refused = api.post(
        "/api/training/rounds/", {"project": project.pk, "policy": rm.pk}, format="json"
    )
    assert refused.status_code == 400
    nxt = api.post(
        f"/api/training/rounds/{first.json()['id']}/next/",
        {"policy": produced["version"], "generate": True},
        format="json",
    )
    assert nxt.status_code == 201, nxt.json()
    body = nxt.json()
    assert body["round"]["number"] == 2 and body["round"]["policy"] == produced["version"]
    assert body["generation"]["pair_with"] == base.pk
    h2h = api.get(f"/api/training/models/{produced['version']}/head-to-head/")
    assert h2h.status_code == 200 and h2h.json() == []  # nobody voted yet
    orphan = api.get(f"/api/training/models/{base.pk}/head-to-head/")
    assert orphan.status_code == 400 and "opponent" in orphan.json()["detail"]
