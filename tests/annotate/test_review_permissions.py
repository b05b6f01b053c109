"""Every review URL against every role, with DEBUG on as in dev: never Django's debug page.

Reviewers, project admins and staff get the page; an annotator of the project is told "forbidden"
(403: they know the project exists); anyone else is told "not found" (404), so nobody learns what
other projects hold; anonymous visitors go to the login page.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from annotate.models import Adjudication, Role
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("debug_on")]

ROLES = ["anonymous", "outsider", "annotator", "reviewer", "project_admin", "staff"]
EXPECTED = {"anonymous": 302, "outsider": 404, "annotator": 403}
DEBUG_MARKERS = ("DEBUG = True", "Using the URLconf", "Traceback", "technical")


@pytest.fixture
def debug_on():
    with override_settings(DEBUG=True):
        yield


@pytest.fixture
def world():
    project = ProjectFactory(slug="reviewed")
    comparison = make_comparison(project=project)
    for choice in ("a", "b"):
        vote_submit(comparison=comparison, rater=rater_for_user(user=UserFactory()), choice=choice)
    users = {
        "outsider": UserFactory(username="outsider"),
        "annotator": UserFactory(username="annotator"),
        "reviewer": UserFactory(username="reviewer"),
        "project_admin": UserFactory(username="padmin"),
        "staff": UserFactory(username="staff", is_staff=True, is_superuser=True),
    }
    MembershipFactory(project=ProjectFactory(), user=users["outsider"], role=Role.ADMIN)
    MembershipFactory(project=project, user=users["annotator"], role=Role.ANNOTATOR)
    MembershipFactory(project=project, user=users["reviewer"], role=Role.REVIEWER)
    MembershipFactory(project=project, user=users["project_admin"], role=Role.ADMIN)
    return project, comparison, users


def _requests(project, comparison):
    """(label, method, url, data) for every review URL and method."""
    listing = reverse("annotate:review_list", args=[project.slug])
    detail = reverse("annotate:review_detail", args=[project.slug, comparison.pk])
    return [
        ("list", "get", listing, None),
        ("list flagged", "get", listing + "?show=flagged", None),
        ("detail", "get", detail, None),
        ("verdict", "post", detail, {"choice": "b", "note": "n"}),
    ]


def _assert_plain_error(response, status: int):
    html = response.content.decode()
    assert response.status_code == status, html[:300]
    assert [t.name for t in response.templates][:1] == [f"{status}.html"], html[:300]
    for marker in DEBUG_MARKERS:
        assert marker not in html
    assert "Preference Studio" in html


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("which", range(4), ids=["list", "flagged", "detail", "verdict"])
def test_review_urls_by_role(client, world, role, which):
    project, comparison, users = world
    if role != "anonymous":
        client.force_login(users[role])
    label, method, url, data = _requests(project, comparison)[which]
    response = getattr(client, method)(url, data or {})
    expected = EXPECTED.get(role, 302 if method == "post" else 200)
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif expected in (403, 404):
        _assert_plain_error(response, expected)
        assert not Adjudication.objects.exists()
    else:
        assert response.status_code == expected, response.content[:300]
    if method == "post" and role in ("reviewer", "project_admin", "staff"):
        assert Adjudication.objects.get().choice == "b"


@pytest.mark.parametrize("role", ["reviewer", "staff"])
def test_a_comparison_of_another_project_or_none_at_all_is_a_plain_404(client, world, role):
    project, _, users = world
    elsewhere = make_comparison(project=ProjectFactory())
    client.force_login(users[role])
    for comparison_id in (elsewhere.pk, 999_999):
        url = reverse("annotate:review_detail", args=[project.slug, comparison_id])
        _assert_plain_error(client.get(url), 404)


def test_an_unknown_project_is_a_plain_404_for_staff_too(client, world):
    _, _, users = world
    client.force_login(users["staff"])
    _assert_plain_error(client.get(reverse("annotate:review_list", args=["no-such"])), 404)


@override_settings(DEBUG=False)
def test_any_unknown_page_uses_the_project_404_template(client, world):
    _assert_plain_error(client.get("/no/such/page/"), 404)
