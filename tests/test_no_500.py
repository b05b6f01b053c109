"""Issue 13, "No 500 from any input": every case found by schemathesis or by hand, one test each.

The API answers 400 naming the field (or, for a server-side storage problem, 503 saying what
to fix); the CLI raises CommandError (a message, no traceback). Marked `postgres` too: integer
overflow and NUL only fail on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from annotate.models import Project, Prompt, Response
from tests.factories import ModelVersionFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BIG = 2**63  # one past PostgreSQL's bigint
SMALL_BIG = 2**15  # one past PostgreSQL's smallint
NESTED = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def admin() -> Client:
    user = UserFactory(username="admin", is_staff=True, is_superuser=True)
    token = Token.objects.create(user=user)
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token.key}")


def bad_request(response, field: str | None) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    body = response.json()
    assert body["field"] == field, body
    return body


def post_json(client: Client, url: str, data) -> object:
    return client.post(url, json.dumps(data), content_type="application/json")


# --- query parameters ----------------------------------------------------------------------------


def test_rounds_filter_by_a_non_number_project_is_a_400(admin):
    bad_request(admin.get("/api/training/rounds/?project=false"), "project")


@pytest.mark.parametrize(
    "url, field",
    [
        (f"/api/votes/?comparison={BIG}", "comparison"),
        (f"/api/votes/?project={BIG}", "project"),
        (f"/api/snapshots/?project={BIG}", "project"),
        (f"/api/training/rounds/?project={BIG}", "project"),
        ("/api/votes/?project=-1", "project"),
    ],
)
def test_an_id_filter_out_of_range_is_a_400(admin, url, field):
    bad_request(admin.get(url), field)


def test_comparisons_filter_by_an_out_of_range_prompt_is_a_400(admin):
    project = ProjectFactory()
    bad_request(admin.get(f"/api/projects/{project.pk}/comparisons/?prompt={BIG}"), "prompt")


@pytest.mark.parametrize("opponent", ["null", "abc", str(BIG), "-3"])
def test_head_to_head_with_a_bad_opponent_is_a_400(admin, opponent):
    version = ModelVersionFactory()
    url = f"/api/training/models/{version.pk}/head-to-head/?opponent={opponent}"
    bad_request(admin.get(url), "opponent")


def test_an_out_of_range_id_in_the_path_is_a_404(admin):
    assert admin.get(f"/api/projects/{BIG}/").status_code == 404
    assert admin.get(f"/api/training/models/{BIG}/head-to-head/").status_code == 404


# --- integers in bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [SMALL_BIG, BIG, 10**30])
def test_project_overlap_beyond_the_column_is_a_400(admin, overlap):
    response = post_json(admin, "/api/projects/", {"name": "Overflow", "overlap": overlap})
    bad_request(response, "overlap")
    assert not Project.objects.filter(name="Overflow").exists()


def test_project_update_overlap_beyond_the_column_is_a_400(admin):
    project = ProjectFactory()
    response = admin.patch(
        f"/api/projects/{project.pk}/",
        json.dumps({"overlap": SMALL_BIG}),
        content_type="application/json",
    )
    bad_request(response, "overlap")


def test_a_comparison_of_out_of_range_response_ids_is_a_400(admin):
    comparison = make_comparison()
    url = f"/api/projects/{comparison.project_id}/comparisons/"
    response = post_json(admin, url, {"prompt": comparison.prompt_id, "responses": [BIG, BIG + 1]})
    bad_request(response, "responses")


def test_a_vote_with_an_out_of_range_time_is_a_400(admin):
    comparison = make_comparison()
    response = post_json(
        admin, "/api/votes/", {"comparison": comparison.pk, "choice": "a", "time_spent_ms": BIG}
    )
    bad_request(response, "time_spent_ms")


# --- text ----------------------------------------------------------------------------------------

SURROGATE = "\ud800"
NUL = "\x00"


@pytest.mark.parametrize("bad", [SURROGATE, NUL, f"ok{SURROGATE}ok", f"ok{NUL}ok"])
def test_a_prompt_with_a_lone_surrogate_or_nul_is_a_400(admin, bad):
    project = ProjectFactory()
    url = f"/api/projects/{project.pk}/prompts/"
    bad_request(post_json(admin, url, {"prompt": bad}), "prompt")
    body = {"messages": [{"role": "user", "content": bad}]}
    assert bad_request(post_json(admin, url, body), "messages")["detail"]
    assert not Prompt.objects.filter(project=project).exists()


@pytest.mark.parametrize("bad", [SURROGATE, NUL])
def test_a_response_text_with_a_lone_surrogate_or_nul_is_a_400(admin, bad):
    comparison = make_comparison()
    url = f"/api/prompts/{comparison.prompt_id}/responses/"
    bad_request(post_json(admin, url, {"text": f"answer {bad}"}), "text")
    bad_request(post_json(admin, url, {"text": "fine", "source": bad}), "source")
    assert Response.objects.filter(prompt_id=comparison.prompt_id).count() == 2  # its own two


@pytest.mark.parametrize("bad", [SURROGATE, NUL])
def test_project_text_with_a_lone_surrogate_or_nul_is_a_400(admin, bad):
    bad_request(post_json(admin, "/api/projects/", {"name": f"p{bad}"}), "name")
    bad_request(post_json(admin, "/api/projects/", {"name": "p", "guidelines": bad}), "guidelines")
    bad_request(post_json(admin, "/api/projects/", {"name": "p", "criteria": [bad]}), "criteria")


@pytest.mark.parametrize("bad", [SURROGATE, NUL])
def test_a_vote_rationale_with_a_lone_surrogate_or_nul_is_a_400(admin, bad):
    comparison = make_comparison()
    body = {"comparison": comparison.pk, "choice": "a", "rationale": bad}
    bad_request(post_json(admin, "/api/votes/", body), "rationale")


def test_a_surrogate_in_a_query_string_is_not_a_500(admin):
    project = ProjectFactory()
    response = admin.get(f"/api/projects/{project.pk}/prompts/", {"search": "%ED%A0%80"})
    assert response.status_code in (200, 400)


# --- import --------------------------------------------------------------------------------------


def upload(name: str, data: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data.encode("utf-8"), content_type="application/octet-stream")


@pytest.mark.parametrize("name", ["deep.jsonl", "deep.json"])
def test_import_of_deeply_nested_json_is_a_400(admin, name):
    project = ProjectFactory()
    data = NESTED if name.endswith(".json") else '{"prompt": "hi", "tags": ' + NESTED + "}\n"
    response = admin.post(f"/api/projects/{project.pk}/import/", {"file": upload(name, data)})
    bad_request(response, "file")
    assert "nested" in response.json()["detail"]


def test_import_of_deeply_nested_json_by_the_cli_is_a_command_error(tmp_path: Path):
    project = ProjectFactory()
    path = tmp_path / "deep.json"
    path.write_text(NESTED)
    with pytest.raises(CommandError, match="nested"):
        call_command("import_data", str(path), "--project", project.slug)


@pytest.mark.parametrize("escape", ["\\ud800", "\\u0000"])
def test_import_of_a_lone_surrogate_or_nul_is_a_400(admin, escape):
    project = ProjectFactory()
    data = '{"prompt": "hi ' + escape + '"}\n'
    response = admin.post(f"/api/projects/{project.pk}/import/", {"file": upload("x.jsonl", data)})
    assert bad_request(response, "prompt")["line"] == 1
    assert not Prompt.objects.filter(project=project).exists()


def test_import_of_a_lone_surrogate_by_the_cli_is_a_command_error(tmp_path: Path):
    project = ProjectFactory()
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "hi \\ud800"}\n')
    with pytest.raises(CommandError, match="surrogate"):
        call_command("import_data", str(path), "--project", project.slug)


# --- export to a read-only directory -------------------------------------------------------------


@pytest.fixture
def read_only_data_dir(tmp_path: Path, settings, monkeypatch):
    """DATA_DIR/snapshots read-only; as root (who writes anyway), its writes refused as the
    kernel would refuse them."""
    settings.DATA_DIR = tmp_path
    root = tmp_path / "snapshots"
    root.mkdir()
    root.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:
        real_mkdtemp = tempfile.mkdtemp

        def mkdtemp(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == root:
                raise PermissionError(13, "Permission denied", str(root / ".tmp-x"))
            return real_mkdtemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    yield root
    root.chmod(stat.S_IRWXU)


def test_export_to_a_read_only_snapshot_dir_is_a_503_that_says_so(admin, read_only_data_dir):
    project = ProjectFactory()
    response = post_json(admin, f"/api/projects/{project.pk}/export/", {})
    assert response.status_code == 503, (response.status_code, response.content[:500])
    assert str(read_only_data_dir) in response.json()["detail"]


def test_export_to_a_read_only_snapshot_dir_by_the_cli_is_a_command_error(read_only_data_dir):
    project = ProjectFactory()
    with pytest.raises(CommandError, match="not writable|Permission denied"):
        call_command("export_data", "--project", project.slug)


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/training/runs/?status=%00", "status"),
        ("/api/training/models/?kind=a%00b", "kind"),
        ("/api/projects/1/prompts/?search=%00", "search"),
    ],
)
def test_nul_in_a_query_parameter_is_a_400(admin, url, field):
    ProjectFactory()
    bad_request(admin.get(url), field)
