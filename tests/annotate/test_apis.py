"""The REST API as a client sees it: votes, visibility, pagination, tokens, import/export, schema."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Comparison, DatasetSnapshot, Prompt, Role, Vote
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import (
    MembershipFactory,
    ModelVersionFactory,
    ProjectFactory,
    PromptFactory,
    UserFactory,
    make_comparison,
)

pytestmark = pytest.mark.django_db


def member(project, role=Role.ANNOTATOR, **user_fields):
    return MembershipFactory(project=project, role=role, user=UserFactory(**user_fields)).user


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def post_json(client: APIClient, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json")


VOTES = reverse("api:votes")


# --- votes ---------------------------------------------------------------------------------


def test_first_vote_is_201_and_a_resubmission_updates_it_with_200():
    comparison = make_comparison()
    client = client_for(member(comparison.project))
    first = post_json(client, VOTES, {"comparison": comparison.pk, "choice": "a", "strength": 2})
    again = post_json(client, VOTES, {"comparison": comparison.pk, "choice": "b", "strength": 3})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.data["id"] == again.data["id"]
    assert list(Vote.objects.values_list("choice", "strength")) == [("b", 3)]
    comparison.refresh_from_db()
    assert comparison.vote_count == 1


def test_vote_records_ratings_edit_time_and_display_order():
    comparison = make_comparison()
    a, b = comparison.ordered_responses()
    client = client_for(member(comparison.project))
    response = post_json(
        client,
        VOTES,
        {
            "comparison": comparison.pk,
            "choice": "b",
            "ratings": {str(b.pk): {"helpful": 5, "honest": 4}},
            "edited_text": "An even better answer.",
            "rationale": "B cites its source.",
            "time_spent_ms": 5400,
            "display_order": [b.pk, a.pk],
        },
    )
    assert response.status_code == 201, response.data
    assert response.data["edited_text"] == "An even better answer."
    vote = Vote.objects.get()
    assert vote.ratings == {str(b.pk): {"helpful": 5, "honest": 4}}
    assert (vote.time_spent_ms, vote.display_order) == (5400, [b.pk, a.pk])
    assert vote.edited_response.edited_from_id == b.pk


def test_n_way_comparison_takes_a_ranking():
    comparison = make_comparison(n=3)
    ids = [r.pk for r in comparison.ordered_responses()]
    client = client_for(member(comparison.project))
    ranking = [[ids[2]], [ids[0], ids[1]]]
    response = post_json(client, VOTES, {"comparison": comparison.pk, "ranking": ranking})
    assert response.status_code == 201, response.data
    assert Vote.objects.get().ranking == ranking


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"choice": "maybe"}, "choice"),
        ({"choice": "tie", "strength": 2}, "strength"),
        ({"choice": "a", "strength": 9}, "strength"),
        ({"choice": "a", "ratings": {"999999": {"helpful": 3}}}, "ratings"),
        ({"choice": "a", "time_spent_ms": -5}, "time_spent_ms"),
        ({"ranking": [[999998], [999999]]}, "ranking"),
        ({"choice": "a", "display_order": [999998, 999999]}, "display_order"),
    ],
)
def test_a_bad_vote_is_400_naming_the_field_and_records_nothing(body, field):
    comparison = make_comparison()
    client = client_for(member(comparison.project))
    response = post_json(client, VOTES, {"comparison": comparison.pk, **body})
    assert response.status_code == 400
    assert response.data["field"] == field, response.data
    assert response.data["detail"]
    assert not Vote.objects.exists()


def test_a_rating_out_of_range_is_refused_by_the_service_with_its_field():
    comparison = make_comparison()
    rid = comparison.ordered_responses()[0].pk
    client = client_for(member(comparison.project))
    response = post_json(
        client,
        VOTES,
        {"comparison": comparison.pk, "choice": "a", "ratings": {str(rid): {"helpful": 7}}},
    )
    assert response.status_code == 400
    assert response.data == {"field": "ratings", "detail": "helpful must be an integer from 1 to 5"}


def test_voting_on_another_projects_comparison_is_404():
    comparison = make_comparison()
    outsider = member(ProjectFactory())
    response = post_json(client_for(outsider), VOTES, {"comparison": comparison.pk, "choice": "a"})
    assert response.status_code == 404
    assert not Vote.objects.exists()


def test_undo_deletes_your_vote_and_frees_the_count():
    comparison = make_comparison()
    client = client_for(member(comparison.project))
    vote_id = post_json(client, VOTES, {"comparison": comparison.pk, "choice": "a"}).data["id"]
    response = client.delete(reverse("api:vote", args=[vote_id]))
    assert response.status_code == 204
    comparison.refresh_from_db()
    assert (Vote.objects.count(), comparison.vote_count) == (0, 0)


# --- who sees what -------------------------------------------------------------------------


@pytest.fixture
def two_projects():
    """Project p: annotators ann and ann2, a reviewer; project q: its own annotator. One vote each."""
    p, q = ProjectFactory(slug="p"), ProjectFactory(slug="q")
    users = {
        "ann": member(p, username="ann"),
        "ann2": member(p, username="ann2"),
        "rev": member(p, Role.REVIEWER, username="rev"),
        "qann": member(q, username="qann"),
        "staff": UserFactory(username="boss", is_staff=True),
    }
    cp, cq = make_comparison(project=p), make_comparison(project=q)
    for name, comparison in [("ann", cp), ("ann2", cp), ("qann", cq), ("rev", cq)]:
        vote_submit(comparison=comparison, rater=rater_for_user(user=users[name]), choice="a")
    return users, cp, cq


def vote_raters(client: APIClient, **params) -> list[str]:
    return sorted(v["rater"] for v in client.get(VOTES, params).data["results"])


def test_an_annotator_lists_only_their_own_votes(two_projects):
    users, cp, _ = two_projects
    client = client_for(users["ann"])
    assert vote_raters(client) == ["user:ann"]
    assert vote_raters(client, comparison=cp.pk) == ["user:ann"]
    other = Vote.objects.get(rater__name="user:ann2")
    assert client.get(reverse("api:vote", args=[other.pk])).status_code == 404


def test_a_reviewer_lists_every_vote_of_their_project_and_no_other(two_projects):
    users, cp, _ = two_projects
    client = client_for(users["rev"])
    # rev also voted in project q (as a rater only there): they see their own vote there.
    assert vote_raters(client) == ["user:ann", "user:ann2", "user:rev"]
    assert vote_raters(client, comparison=cp.pk) == ["user:ann", "user:ann2"]


def test_staff_list_every_vote(two_projects):
    users, *_ = two_projects
    assert len(vote_raters(client_for(users["staff"]))) == 4


def test_projects_list_shows_only_memberships_with_the_role(two_projects):
    users, *_ = two_projects
    mine = client_for(users["qann"]).get(reverse("api:projects")).data["results"]
    assert [(p["slug"], p["my_role"]) for p in mine] == [("q", "annotator")]
    everything = client_for(users["staff"]).get(reverse("api:projects")).data
    assert everything["count"] == 2


def test_annotators_get_comparisons_blind_and_reviewers_with_provenance():
    comparison = make_comparison()
    a, b = comparison.ordered_responses()
    b.model_version = ModelVersionFactory(name="secret-model-v7")
    b.save()
    url = reverse("api:comparison", args=[comparison.pk])

    blind = client_for(member(comparison.project)).get(url)
    assert blind.status_code == 200
    assert [(r["position"], r["id"], r["text"]) for r in blind.data["responses"]] == [
        (0, a.pk, a.text),
        (1, b.pk, b.text),
    ]
    assert "secret-model-v7" not in json.dumps(blind.data)
    assert "vote_count" not in blind.data

    full = client_for(member(comparison.project, Role.REVIEWER)).get(url)
    assert full.data["responses"][1]["model_version"] == "secret-model-v7"
    assert full.data["vote_count"] == 0


def test_annotators_see_no_snapshots(two_projects):
    users, cp, _ = two_projects
    DatasetSnapshot.objects.create(
        name="s", project=cp.project, kind="preference", format="standard", content_hash="0"
    )
    assert client_for(users["ann"]).get(reverse("api:snapshots")).data["count"] == 0
    assert client_for(users["staff"]).get(reverse("api:snapshots")).data["count"] == 1


# --- projects and content ------------------------------------------------------------------


def test_staff_create_a_project_and_a_taken_slug_is_400_on_slug():
    client = client_for(UserFactory(is_staff=True))
    url = reverse("api:projects")
    created = post_json(client, url, {"name": "Code review", "criteria": ["correct"]})
    assert created.status_code == 201, created.data
    assert (created.data["slug"], created.data["criteria"]) == ("code-review", ["correct"])
    clash = post_json(client, url, {"name": "Other", "slug": "code-review"})
    assert (clash.status_code, clash.data["field"]) == (400, "slug")


def test_project_admins_add_members_by_username():
    project = ProjectFactory()
    client = client_for(member(project, Role.ADMIN))
    url = reverse("api:members", args=[project.pk])
    newcomer = UserFactory(username="newcomer")
    added = post_json(client, url, {"username": "newcomer", "role": "reviewer"})
    assert (added.status_code, added.data["role"]) == (201, "reviewer")
    assert project.memberships.get(user=newcomer).role == Role.REVIEWER
    missing = post_json(client, url, {"username": "nobody"})
    assert (missing.status_code, missing.data["field"]) == (400, "username")


def test_prompts_filter_by_tag_and_text():
    project = ProjectFactory()
    PromptFactory(project=project, tags=["math"], messages=[{"role": "user", "content": "2+2?"}])
    PromptFactory(project=project, tags=["code"], messages=[{"role": "user", "content": "A loop"}])
    client = client_for(member(project))
    url = reverse("api:prompts", args=[project.pk])
    by_tag = client.get(url, {"tag": "math"}).data["results"]
    assert [p["messages"][0]["content"] for p in by_tag] == ["2+2?"]
    by_text = client.get(url, {"search": "loop"}).data["results"]
    assert [p["tags"] for p in by_text] == [["code"]]


def test_prompt_create_dedupes_and_rejects_unknown_roles():
    project = ProjectFactory()
    client = client_for(member(project, Role.ADMIN))
    url = reverse("api:prompts", args=[project.pk])
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    first = post_json(client, url, {"messages": turns, "tags": ["greeting"]})
    again = post_json(client, url, {"messages": turns})
    assert (first.status_code, again.status_code, again.data["id"]) == (201, 200, first.data["id"])
    bad = post_json(client, url, {"messages": [{"role": "robot", "content": "x"}]})
    assert bad.status_code == 400 and bad.data["field"].startswith("messages")
    assert Prompt.objects.count() == 1


def test_admins_add_responses_and_compare_them():
    project = ProjectFactory()
    prompt = PromptFactory(project=project)
    client = client_for(member(project, Role.ADMIN))
    url = reverse("api:prompt-responses", args=[prompt.pk])
    ids = [post_json(client, url, {"text": t, "source": "gpt"}).data["id"] for t in ("x", "y")]
    made = post_json(
        client,
        reverse("api:comparisons", args=[project.pk]),
        {"prompt": prompt.pk, "responses": ids},
    )
    assert made.status_code == 201, made.data
    assert [r["id"] for r in made.data["responses"]] == ids
    assert Comparison.objects.get().ordered_responses()[0].pk == ids[0]


# --- pagination, tokens, schema ------------------------------------------------------------


def test_lists_are_paginated_by_50_and_page_size_is_adjustable():
    project = ProjectFactory()
    for _ in range(60):
        PromptFactory(project=project)
    client = client_for(member(project))
    url = reverse("api:prompts", args=[project.pk])
    first = client.get(url).data
    assert (first["count"], len(first["results"])) == (60, 50)
    second = client.get(first["next"]).data
    assert (len(second["results"]), second["next"]) == (10, None)
    assert len(client.get(url, {"page_size": 7}).data["results"]) == 7


def test_a_token_from_username_and_password_authenticates_api_calls():
    project = ProjectFactory()
    user = member(project, username="scripted")
    anonymous = APIClient()
    token = post_json(
        anonymous, reverse("api:token"), {"username": "scripted", "password": "pw-secret-123"}
    ).data["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = anonymous.get(reverse("api:projects"))
    assert response.status_code == 200
    assert [p["id"] for p in response.data["results"]] == [project.pk]
    comparison = make_comparison(project=project)
    voted = post_json(anonymous, VOTES, {"comparison": comparison.pk, "choice": "tie"})
    assert voted.status_code == 201
    assert Vote.objects.get().rater.user == user

    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert forged.get(reverse("api:projects")).status_code in (401, 403)
    bad = post_json(APIClient(), reverse("api:token"), {"username": "scripted", "password": "no"})
    assert bad.status_code == 400


def test_schema_is_valid_openapi_and_documents_every_route():
    from drf_spectacular.validation import validate_schema

    response = APIClient().get(reverse("api:schema"), {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)  # raises on an invalid OpenAPI 3 document
    paths = schema["paths"]
    for path, method in [
        ("/api/votes/", "post"),
        ("/api/votes/{vote_id}/", "delete"),
        ("/api/projects/{project_id}/comparisons/", "get"),
        ("/api/projects/{project_id}/import/", "post"),
        ("/api/projects/{project_id}/export/", "post"),
        ("/api/snapshots/{snapshot_id}/download/", "get"),
        ("/api/auth/token/", "post"),
    ]:
        assert method in paths[path], path
    vote_body = paths["/api/votes/"]["post"]["requestBody"]["content"]["application/json"]
    assert vote_body["schema"]["$ref"].endswith("/VoteSubmit")
    assert set(schema["components"]["securitySchemes"]) == {"cookieAuth", "tokenAuth"}


def test_schema_generates_without_warnings():
    """A warning means an ambiguous component or enum name: clients would get a wrong type."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, dict(GENERATOR_STATS._warn_cache)


def test_docs_page_loads_swagger_ui_from_this_server_not_a_cdn():
    """Deployments may have no internet: the UI comes from drf-spectacular-sidecar's files."""
    from django.contrib.staticfiles import finders

    response = APIClient().get(reverse("api:docs"))
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL) or asset.startswith("/static/"), asset
        assert finders.find(asset.split("/static/", 1)[1]), f"{asset} is not a static file"


# --- import and export ---------------------------------------------------------------------


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, "application/octet-stream")


def test_import_reports_counts_and_a_bad_file_is_400_with_its_line_and_imports_nothing():
    project = ProjectFactory()
    client = client_for(member(project, Role.ADMIN))
    url = reverse("api:import", args=[project.pk])
    good = b'{"prompt": "Q1?", "responses": ["r1", "r2"]}\n{"prompt": "Q2?"}\n'
    report = client.post(url, {"file": upload("batch.jsonl", good)}, format="multipart")
    assert report.status_code == 200, report.data
    assert (report.data["created_prompts"], report.data["created_comparisons"]) == (2, 1)

    bad = b'{"prompt": "Q3?"}\n{"prompt": \n'
    refused = client.post(url, {"file": upload("bad.jsonl", bad)}, format="multipart")
    assert refused.status_code == 400
    assert (refused.data["file"], refused.data["line"]) == ("bad.jsonl", 2)
    assert "bad.jsonl:2" in refused.data["detail"]
    assert Prompt.objects.count() == 2


def test_export_makes_a_snapshot_whose_jsonl_downloads():
    comparison = make_comparison()
    a, b = comparison.ordered_responses()
    project = comparison.project
    admin = member(project, Role.ADMIN)
    vote_submit(comparison=comparison, rater=rater_for_user(user=admin), choice="b")
    client = client_for(admin)
    made = post_json(
        client,
        reverse("api:export", args=[project.pk]),
        {"kind": "preference", "save_to_disk": False},
    )
    assert made.status_code == 201, made.data
    assert made.data["row_count"] == 1
    assert set(made.data["files"]) == {"jsonl", "manifest"}

    download = client.get(reverse("api:snapshot-download", args=[made.data["id"]]))
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
    assert [(r["chosen"], r["rejected"]) for r in rows] == [(b.text, a.text)]

    empty = post_json(client, reverse("api:export", args=[project.pk]), {"rater_kinds": ["judge"]})
    assert (empty.status_code, empty.data["field"]) == (400, "filters")


@pytest.mark.parametrize("name", ["comparisons", "votes"])
def test_list_query_count_does_not_grow_with_the_page(name, django_assert_max_num_queries):
    project = ProjectFactory()
    reviewer = member(project, Role.REVIEWER)
    rater = rater_for_user(user=reviewer)
    url = reverse(f"api:{name}", args=[project.pk]) if name == "comparisons" else VOTES
    client = client_for(reviewer)

    def queries_for_page() -> int:
        with django_assert_max_num_queries(50) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    for _ in range(2):
        vote_submit(comparison=make_comparison(project=project), rater=rater, choice="a")
    small = queries_for_page()
    for _ in range(20):
        vote_submit(comparison=make_comparison(project=project), rater=rater, choice="b")
    assert queries_for_page() == small


@pytest.mark.django_db
def test_api_votes_respect_overlap_k():
    """Votes sent to a named comparison take one of its k slots; the k+1-th rater is refused."""
    from rest_framework.test import APIClient

    from annotate.models import Role as _Role
    from tests.factories import MembershipFactory as _M
    from tests.factories import ProjectFactory as _P
    from tests.factories import UserFactory as _U
    from tests.factories import make_comparison as _mc

    project = _P(overlap=1)
    comparison = _mc(project=project)
    statuses = []
    for _ in range(2):
        user = _U()
        _M(project=project, user=user, role=_Role.ANNOTATOR)
        client = APIClient()
        client.force_authenticate(user)
        response = client.post(
            "/api/votes/", {"comparison": comparison.pk, "choice": "a"}, format="json"
        )
        statuses.append((response.status_code, response.json().get("field")))
    assert statuses == [(201, None), (400, "comparison")]
