"""Every web page against every role: annotators see only their own work.

A route of annotate.urls without a row in ROUTES fails `test_every_page_has_a_row`.
"""

from __future__ import annotations

import pytest
from django.urls import get_resolver, reverse

from annotate.models import Role
from annotate.services.queue import assignment_next, assignment_skip
from annotate.services.raters import rater_for_user
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "annotator", "reviewer", "project_admin", "staff"]
OK, REDIRECT, FORBIDDEN, HIDDEN = 200, 302, 403, 404

# name -> (method, data, {role: expected status}); the annotator's own item is used throughout.
MEMBER_ONLY = {"anonymous": REDIRECT, "outsider": HIDDEN, "staff": HIDDEN}
ROUTES = {
    "home": ("get", None, {"anonymous": REDIRECT}),
    "compare": ("get", None, MEMBER_ONLY),
    "item": ("get", None, {**MEMBER_ONLY, "reviewer": HIDDEN, "project_admin": HIDDEN}),
    "vote": (
        "post",
        {"choice": "a"},
        {**MEMBER_ONLY, "reviewer": HIDDEN, "project_admin": HIDDEN, "annotator": REDIRECT},
    ),
    "skip": (
        "post",
        {"reason": "x"},
        {**MEMBER_ONLY, "reviewer": HIDDEN, "project_admin": HIDDEN, "annotator": REDIRECT},
    ),
    "undo": (
        "post",
        None,
        {**MEMBER_ONLY, "annotator": 409, "reviewer": 409, "project_admin": 409},
    ),
    # The annotator skipped their item first ("skipped"): reopening it is theirs alone.
    "reopen": (
        "post",
        "skipped",
        {**MEMBER_ONLY, "reviewer": HIDDEN, "project_admin": HIDDEN, "annotator": REDIRECT},
    ),
    "progress": ("get", None, MEMBER_ONLY),
    "prefetch": ("get", "after", MEMBER_ONLY),
    "history": ("get", None, MEMBER_ONLY),
    "diff": ("post", "diff", {**MEMBER_ONLY, "reviewer": HIDDEN, "project_admin": HIDDEN}),
    # Annotators know the project: forbidden, not hidden (tests/annotate/test_review_permissions.py).
    "review_list": (
        "get",
        None,
        {"anonymous": REDIRECT, "outsider": HIDDEN, "annotator": FORBIDDEN},
    ),
    "review_detail": (
        "get",
        None,
        {"anonymous": REDIRECT, "outsider": HIDDEN, "annotator": FORBIDDEN},
    ),
}


@pytest.fixture
def world(db):
    project = ProjectFactory(overlap=3)
    comparison = make_comparison(project=project)
    make_comparison(project=project)
    other = ProjectFactory()
    users = {
        "outsider": UserFactory(username="outsider"),
        "annotator": UserFactory(username="annotator"),
        "reviewer": UserFactory(username="reviewer"),
        "project_admin": UserFactory(username="padmin"),
        "staff": UserFactory(username="staff", is_staff=True, is_superuser=True),
    }
    MembershipFactory(project=other, user=users["outsider"])
    MembershipFactory(project=project, user=users["annotator"], role=Role.ANNOTATOR)
    MembershipFactory(project=project, user=users["reviewer"], role=Role.REVIEWER)
    MembershipFactory(project=project, user=users["project_admin"], role=Role.ADMIN)
    # The annotator holds the first comparison in their queue.
    assert (
        assignment_next(project=project, rater=rater_for_user(user=users["annotator"])).comparison
        == comparison
    )
    return project, comparison, users


def _url(name: str, project, comparison) -> str:
    if name == "home":
        return reverse("annotate:home")
    if name in ("item", "vote", "skip", "reopen", "review_detail"):
        return reverse(f"annotate:{name}", args=[project.slug, comparison.pk])
    return reverse(f"annotate:{name}", args=[project.slug])


def test_every_page_has_a_row():
    annotate_patterns = next(
        p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "annotate"
    )
    names = {p.name for p in annotate_patterns.url_patterns}
    assert names == set(ROUTES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_page_access(client, world, name, role):
    project, comparison, users = world
    if role != "anonymous":
        client.force_login(users[role])
    method, data, expected = ROUTES[name]
    url = _url(name, project, comparison)
    if data == "skipped":
        annotator = rater_for_user(user=users["annotator"])
        assignment_skip(assignment=assignment_next(project=project, rater=annotator))
        response = client.post(url)
    elif data == "after":
        response = client.get(url, {"after": comparison.pk})
    elif data == "diff":
        source = comparison.ordered_responses()[0].pk
        response = client.post(url, {"edit_source": source, "edited_text": "x"})
    elif method == "post":
        response = client.post(url, data or {})
    else:
        response = client.get(url)
    assert response.status_code == expected.get(role, OK), response.content[:300]


@pytest.mark.parametrize(
    "role", ["anonymous", "outsider", "annotator", "reviewer", "project_admin"]
)
@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/annotate/vote/",
        "/admin/training/trainingrun/",
        "/admin/training/round/",
        "/admin/training/round/add/",
        "/admin/annotate/project/import/",
    ],
)
def test_admin_and_training_pages_are_for_staff_only(client, world, role, path):
    _, _, users = world
    if role != "anonymous":
        client.force_login(users[role])
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_annotator_never_sees_other_raters_votes_in_pages(client, world):
    project, comparison, users = world
    from annotate.services.votes import vote_submit

    reviewer_rater = rater_for_user(user=users["reviewer"])
    vote_submit(
        comparison=comparison, rater=reviewer_rater, choice="b", rationale="SECRET-RATIONALE"
    )
    client.force_login(users["annotator"])
    for name in ("compare", "item", "history", "progress"):
        html = client.get(_url(name, project, comparison)).content.decode()
        assert "SECRET-RATIONALE" not in html and "user:reviewer" not in html
