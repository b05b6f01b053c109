"""The judges API: write-only keys, who may do what, runs, RLAIF mode and agreement."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotate.models import Role, Vote
from judges.models import Judge, JudgeRun, RunStatus
from judges.services.judges import judge_create
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.judges.urls")]

SECRET = "sk-live-do-not-leak-4242"


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def staff():
    return UserFactory(username="staff", is_staff=True)


def _create(client, **extra):
    payload = {
        "name": "gpt-judge",
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "gpt-x",
        "api_key": SECRET,
        "constitution": ["Prefer the honest answer."],
        **extra,
    }
    return client.post("/api/judges/", payload, format="json")


def test_the_api_key_is_write_only(staff):
    client = _client(staff)
    created = _create(client)
    assert created.status_code == 201, created.content
    judge_id = created.json()["id"]
    assert Judge.objects.get(pk=judge_id).api_key == SECRET

    for response in (created, client.get(f"/api/judges/{judge_id}/"), client.get("/api/judges/")):
        assert SECRET not in response.content.decode()
        body = response.json()
        for judge in body.get("results", [body]):
            assert "api_key" not in judge
    assert created.json()["has_api_key"] is True

    # PATCH without a key keeps it; an empty key removes it.
    assert (
        client.patch(f"/api/judges/{judge_id}/", {"version": "2"}, format="json").status_code == 200
    )
    assert Judge.objects.get(pk=judge_id).api_key == SECRET
    cleared = client.patch(f"/api/judges/{judge_id}/", {"api_key": ""}, format="json")
    assert cleared.json()["has_api_key"] is False
    assert Judge.objects.get(pk=judge_id).api_key == ""


def test_only_staff_configure_judges_and_errors_name_the_field(staff):
    annotator = UserFactory(username="ann")
    assert _create(_client(annotator)).status_code == 403
    assert _create(_client()).status_code in (401, 403)
    bad = _create(_client(staff), template="Judge {conversation} with {nonsense}")
    assert bad.status_code == 400
    assert bad.json()["field"] == "template" and "{nonsense}" in bad.json()["detail"]
    missing = _create(_client(staff), name="other", model="")
    assert missing.status_code == 400 and missing.json()["field"] == "model"


def test_a_judge_that_voted_cannot_be_deleted(staff):
    judge = judge_create(name="j", kind="openai", model="m")
    comparison = make_comparison()
    from annotate.services.votes import vote_submit

    vote_submit(comparison=comparison, rater=judge.rater, choice="a")
    response = _client(staff).delete(f"/api/judges/{judge.pk}/")
    assert response.status_code == 400 and "1 votes" in response.json()["detail"]
    assert Vote.objects.filter(rater=judge.rater).exists()


def test_runs_are_started_by_project_admins_and_cancelled_and_resumed(staff):
    project = ProjectFactory()
    comparison = make_comparison(project=project)
    judge = judge_create(name="j", kind="openai", model="m")
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    outsider = UserFactory(username="outsider")
    payload = {"judge": judge.pk, "project": project.pk, "comparison_ids": [comparison.pk]}

    assert _client(annotator).post("/api/judges/runs/", payload, format="json").status_code == 403
    assert _client(outsider).post("/api/judges/runs/", payload, format="json").status_code == 404
    bad = _client(admin).post(
        "/api/judges/runs/", {**payload, "comparison_ids": [999999]}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["field"] == "comparison_ids"

    created = _client(admin).post("/api/judges/runs/", payload, format="json")
    assert created.status_code == 201, created.content
    run_id = created.json()["id"]
    assert created.json()["status"] == RunStatus.QUEUED

    cancelled = _client(admin).post(f"/api/judges/runs/{run_id}/cancel/")
    assert cancelled.json()["status"] == RunStatus.CANCELLED
    resumed = _client(admin).post(f"/api/judges/runs/{run_id}/resume/")
    assert resumed.json()["status"] == RunStatus.QUEUED
    again = _client(admin).post(f"/api/judges/runs/{run_id}/resume/")
    assert again.status_code == 400 and "only cancelled or failed" in again.json()["detail"]

    assert _client(outsider).get(f"/api/judges/runs/{run_id}/").status_code == 404
    assert _client(annotator).get(f"/api/judges/runs/{run_id}/").status_code == 200
    assert _client(annotator).post(f"/api/judges/runs/{run_id}/cancel/").status_code == 403
    listed = _client(staff).get(f"/api/judges/runs/?project={project.pk}").json()
    assert [r["id"] for r in listed["results"]] == [run_id]
    assert JudgeRun.objects.get(pk=run_id).created_by == admin


def test_rlaif_mode_and_agreement_over_the_api(staff):
    project = ProjectFactory()
    judge = judge_create(name="j", kind="openai", model="m")
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    admin = MembershipFactory(project=project, role=Role.ADMIN).user
    url = f"/api/judges/projects/{project.pk}/judging/"

    assert _client(reviewer).get(url).json()["mode"] == "humans"
    assert _client(reviewer).put(url, {"mode": "prelabel", "judge": judge.pk}).status_code == 403
    missing = _client(admin).put(url, {"mode": "prelabel"}, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "judge"
    done = _client(admin).put(
        url, {"mode": "prelabel", "judge": judge.pk, "confidence_threshold": 0.9}, format="json"
    )
    assert done.status_code == 200
    assert (done.json()["mode"], done.json()["confidence_threshold"]) == ("prelabel", 0.9)

    report = _client(reviewer).get(f"/api/judges/projects/{project.pk}/agreement/")
    assert report.status_code == 200 and report.json()["project"] == project.name
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    assert (
        _client(annotator).get(f"/api/judges/projects/{project.pk}/agreement/").status_code == 403
    )
