"""Every API route, every method, every role: who gets through, who is refused, who sees nothing.

The table below is the API's access policy. A route or method added to annotate/api_urls.py
without a row here fails `test_every_api_route_has_a_row`, so nothing ships unreviewed.

Legend: 200/201/204 allowed; 403 the role may see the project but not do this; 404 the object
lives in a project the user cannot see; DENIED an anonymous caller (401 or 403).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from annotate.models import DatasetSnapshot, Role, Vote
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import (
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    make_comparison,
)

PASSWORD = "pw-secret-123"
DENIED = "denied"
ROLES = ("anonymous", "annotator", "outsider", "reviewer", "project_admin", "staff")


@dataclass
class World:
    users: dict[str, Any]
    project: Any
    prompt: Any
    comparison: Any
    vote: Vote
    spare_member: Any
    snapshot: DatasetSnapshot


@pytest.fixture
def world(tmp_path: Path) -> World:
    project, other = ProjectFactory(), ProjectFactory()
    users = {"anonymous": None, "staff": UserFactory(username="staff", is_staff=True)}
    for role, project_role, where in [
        ("annotator", Role.ANNOTATOR, project),
        ("outsider", Role.ANNOTATOR, other),
        ("reviewer", Role.REVIEWER, project),
        ("project_admin", Role.ADMIN, project),
    ]:
        users[role] = MembershipFactory(
            project=where, user=UserFactory(username=role), role=project_role
        ).user
    spare = MembershipFactory(project=project, user=UserFactory(username="spare")).user
    comparison = make_comparison(project=project)
    vote = vote_submit(
        comparison=comparison, rater=rater_for_user(user=users["annotator"]), choice="a"
    )
    snapshot_dir = tmp_path / "snapshot"
    snapshot_dir.mkdir()
    (snapshot_dir / "data.jsonl").write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\n')
    snapshot = DatasetSnapshot.objects.create(
        name="snap",
        project=project,
        kind="preference",
        format="standard",
        row_count=1,
        path=str(snapshot_dir),
        files={"jsonl": "data.jsonl"},
        content_hash="0" * 64,
    )
    return World(users, project, comparison.prompt, comparison, vote, spare, snapshot)


@dataclass(frozen=True)
class Row:
    """Expected status per role, in ROLES order after anonymous."""

    annotator: int
    outsider: int
    reviewer: int
    project_admin: int
    staff: int
    anonymous: int | str = DENIED
    kwargs: Callable[[World], dict] = lambda w: {}
    body: Callable[[World], dict] | None = None
    multipart: bool = False


def P(w: World) -> dict:  # noqa: N802 - reads as the table's "project" column
    return {"project_id": w.project.pk}


def _jsonl_upload(w: World) -> dict:
    rows = b'{"prompt": "An imported question?"}\n'
    return {"file": SimpleUploadedFile("prompts.jsonl", rows, "application/jsonl")}


def _new_order(w: World) -> dict:
    a, b = w.comparison.ordered_responses()
    return {"prompt": w.prompt.pk, "responses": [b.pk, a.pk]}


TABLE: dict[tuple[str, str], Row] = {
    # Obtaining a token needs no session; anonymous sends wrong credentials here.
    ("token", "post"): Row(200, 200, 200, 200, 200, anonymous=400, body=lambda w: {}),
    ("projects", "get"): Row(200, 200, 200, 200, 200),
    ("projects", "post"): Row(403, 403, 403, 403, 201, body=lambda w: {"name": "Brand new"}),
    ("project", "get"): Row(200, 404, 200, 200, 200, kwargs=P),
    ("project", "patch"): Row(403, 404, 403, 403, 200, kwargs=P, body=lambda w: {"overlap": 3}),
    ("members", "get"): Row(403, 404, 403, 200, 200, kwargs=P),
    ("members", "post"): Row(
        403, 404, 403, 201, 201, kwargs=P, body=lambda w: {"username": "staff", "role": "reviewer"}
    ),
    ("member", "delete"): Row(
        403, 404, 403, 204, 204, kwargs=lambda w: {**P(w), "user_id": w.spare_member.pk}
    ),
    ("prompts", "get"): Row(200, 404, 200, 200, 200, kwargs=P),
    ("prompts", "post"): Row(
        403, 404, 403, 201, 201, kwargs=P, body=lambda w: {"prompt": "A new question?"}
    ),
    ("project-responses", "get"): Row(403, 404, 200, 200, 200, kwargs=P),
    ("comparisons", "get"): Row(200, 404, 200, 200, 200, kwargs=P),
    ("comparisons", "post"): Row(403, 404, 403, 201, 201, kwargs=P, body=_new_order),
    ("import", "post"): Row(403, 404, 403, 200, 200, kwargs=P, body=_jsonl_upload, multipart=True),
    ("export", "post"): Row(
        403, 404, 403, 201, 201, kwargs=P, body=lambda w: {"save_to_disk": False}
    ),
    ("prompt", "get"): Row(200, 404, 200, 200, 200, kwargs=lambda w: {"prompt_id": w.prompt.pk}),
    ("prompt-responses", "get"): Row(
        403, 404, 200, 200, 200, kwargs=lambda w: {"prompt_id": w.prompt.pk}
    ),
    ("prompt-responses", "post"): Row(
        403,
        404,
        403,
        201,
        201,
        kwargs=lambda w: {"prompt_id": w.prompt.pk},
        body=lambda w: {"text": "A new answer."},
    ),
    ("comparison", "get"): Row(
        200, 404, 200, 200, 200, kwargs=lambda w: {"comparison_id": w.comparison.pk}
    ),
    # Lists are filtered rather than refused: see tests/annotate/test_apis.py for what each sees.
    ("votes", "get"): Row(200, 200, 200, 200, 200),
    # The annotator already voted on it, so theirs is an update (200).
    ("votes", "post"): Row(
        200, 404, 201, 201, 201, body=lambda w: {"comparison": w.comparison.pk, "choice": "b"}
    ),
    ("vote", "get"): Row(200, 404, 200, 200, 200, kwargs=lambda w: {"vote_id": w.vote.pk}),
    ("vote", "delete"): Row(204, 404, 403, 403, 204, kwargs=lambda w: {"vote_id": w.vote.pk}),
    ("snapshots", "get"): Row(200, 200, 200, 200, 200),
    ("snapshot", "get"): Row(
        404, 404, 404, 200, 200, kwargs=lambda w: {"snapshot_id": w.snapshot.pk}
    ),
    ("snapshot-download", "get"): Row(
        404, 404, 404, 200, 200, kwargs=lambda w: {"snapshot_id": w.snapshot.pk}
    ),
    # The API's description is public; it holds no data.
    ("schema", "get"): Row(200, 200, 200, 200, 200, anonymous=200),
    ("docs", "get"): Row(200, 200, 200, 200, 200, anonymous=200),
}


def _api_routes() -> set[tuple[str, str]]:
    """(url name, method) for every view mounted under the `api` namespace."""
    api = next(
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and p.namespace == "api"
    )
    routes = set()
    for pattern in api.url_patterns:
        assert isinstance(pattern, URLPattern), f"nested include under api/: {pattern}"
        view = pattern.callback.view_class
        for method in view.http_method_names:
            if method not in ("options", "head") and hasattr(view, method):
                routes.add((pattern.name, method))
    return routes


def test_every_api_route_has_a_row():
    routes = _api_routes()
    assert routes - TABLE.keys() == set(), "add these routes to TABLE"
    assert TABLE.keys() - routes == set(), "these rows name routes that no longer exist"


def _call(client: APIClient, world: World, route: tuple[str, str], row: Row, role: str):
    name, method = route
    url = reverse(f"api:{name}", kwargs=row.kwargs(world))
    body = row.body(world) if row.body else None
    if name == "token" and role != "anonymous":
        body = {"username": world.users[role].username, "password": PASSWORD}
    elif name == "token":
        body = {"username": "annotator", "password": "wrong"}
    send = getattr(client, method)
    if body is None:
        return send(url)
    if row.multipart:
        return send(url, body, format="multipart")
    return send(url, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(TABLE), ids=lambda r: f"{r[1].upper()} {r[0]}")
def test_role_gets_the_expected_status(world, route, role):
    row = TABLE[route]
    client = APIClient()
    if world.users[role] is not None:
        client.force_login(world.users[role])
    response = _call(client, world, route, row, role)
    expected = getattr(row, role)
    body = getattr(response, "data", None)
    if expected == DENIED:
        assert response.status_code in (401, 403), body
    else:
        assert response.status_code == expected, body
