"""Who may see rater quality: every URL, every role (it names raters and their failings)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Role, Vote
from annotate.services.raters import rater_for_user
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

ROLES = ["anonymous", "outsider", "annotator", "reviewer", "project_admin", "staff"]


@pytest.fixture
def world(db):
    project, other = ProjectFactory(), ProjectFactory()
    users = {"anonymous": None, "staff": UserFactory(username="q-staff", is_staff=True)}
    for role, project_role, where in [
        ("outsider", Role.ADMIN, other),
        ("annotator", Role.ANNOTATOR, project),
        ("reviewer", Role.REVIEWER, project),
        ("project_admin", Role.ADMIN, project),
    ]:
        users[role] = MembershipFactory(
            project=where, user=UserFactory(username=f"q-{role}"), role=project_role
        ).user
    comparison = make_comparison(project=project)
    Vote.objects.create(
        comparison=comparison, rater=rater_for_user(user=users["annotator"]), choice="a"
    )
    return project, users


API = {
    "anonymous": (401, 403),
    "outsider": (404,),
    "annotator": (403,),
    "reviewer": (403,),
    "project_admin": (200,),
    "staff": (200,),
}


@pytest.mark.parametrize("role", ROLES)
def test_rater_quality_api_is_for_project_admins_and_staff(world, role):
    project, users = world
    client = APIClient()
    if users[role] is not None:
        client.force_authenticate(users[role])
    url = reverse("judges-api:rater-quality", args=[project.pk])
    response = client.get(url)
    assert response.status_code in API[role], response.content
    if response.status_code == 200:
        body = response.json()
        assert body["project_id"] == project.pk
        assert [r["name"] for r in body["raters"]] == ["user:q-annotator"]
        assert body["raters"][0]["flagged"] is False


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "name",
    ["admin:judges_rater_quality", "admin:judges_goldanswer_changelist"],
)
def test_admin_pages_are_for_staff_only(client, world, role, name):
    project, users = world
    if name == "admin:judges_rater_quality":
        url = reverse(name, args=[project.pk])
    else:
        url = reverse(name)
    if users[role] is not None:
        if role == "staff":
            users[role].is_superuser = True
            users[role].save()
        client.force_login(users[role])
    response = client.get(url)
    if role == "staff":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]


def test_rater_quality_api_404s_for_a_missing_project(world):
    _, users = world
    client = APIClient()
    client.force_authenticate(users["staff"])
    assert client.get(reverse("judges-api:rater-quality", args=[999999])).status_code == 404
