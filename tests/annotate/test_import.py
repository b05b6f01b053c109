"""Import: every accepted format end to end, dedupe, and malformed files that import nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.urls import path, reverse

from annotate.admin_import import ProjectAdminImportMixin
from annotate.management.commands.import_data import Command as ImportCommand
from annotate.models import (
    Comparison,
    Project,
    ProjectMode,
    Prompt,
    Rater,
    RaterKind,
    Response,
    Vote,
)
from annotate.services import import_
from annotate.services.import_ import ImportFileError, data_import
from tests.factories import ProjectFactory, PromptFactory, ResponseFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


# --- helpers ------------------------------------------------------------------------------------


def jsonl(tmp_path: Path, name: str, rows: list) -> Path:
    target = tmp_path / name
    target.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return target


def raw(tmp_path: Path, name: str, data: bytes | str) -> Path:
    target = tmp_path / name
    target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return target


def db_counts() -> dict[str, int]:
    """Row counts of every table the project owns, to prove a failed import wrote nothing."""
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


@pytest.fixture
def project() -> Project:
    """A project that already holds data, so "unchanged" means more than "still empty"."""
    project = ProjectFactory(slug="demo")
    ResponseFactory(prompt=PromptFactory(project=project))
    return project


@pytest.fixture
def write_every_row(monkeypatch):
    """Batches of one: rows before a bad one are really written, so rollback is really tested."""
    monkeypatch.setattr(import_, "BATCH_SIZE", 1)


def report_of(**kwargs) -> dict:
    expected = {
        "created_prompts": 0,
        "duplicate_prompts": 0,
        "created_responses": 0,
        "duplicate_responses": 0,
        "created_comparisons": 0,
        "created_votes": 0,
        "duplicate_votes": 0,
        "rejected": 0,
        "rejected_rows": [],
    }
    expected.update(kwargs)
    return expected


# --- accepted formats ---------------------------------------------------------------------------


def test_prompt_rows_in_every_shape(tmp_path, project):
    """prompt, messages, minimind conversations and question/answer: answers become responses."""
    rows = [
        {"prompt": "What is DPO?", "tags": ["ml", "rlhf"]},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                user("Hi"),
                assistant("Hello"),
                user("Tell me a joke"),
            ]
        },
        {"conversations": [user("2+2?"), assistant("4")]},
        {"question": "Capital of France?", "answer": "Paris."},
        {"question": "Capital of Italy?"},
    ]
    file = jsonl(tmp_path, "prompts.jsonl", rows)

    report = data_import(project=project, file=file)

    assert report.as_dict() == report_of(created_prompts=5, created_responses=2)
    new = Prompt.objects.filter(project=project, source_file="prompts.jsonl").order_by(
        "source_line"
    )
    assert [p.source_line for p in new] == [1, 2, 3, 4, 5]
    assert new[0].messages == [user("What is DPO?")] and new[0].tags == ["ml", "rlhf"]
    assert new[1].messages[-1] == user("Tell me a joke") and len(new[1].messages) == 4
    assert new[2].messages == [user("2+2?")]
    assert [r.text for r in new[2].responses.all()] == ["4"]
    assert [(r.text, r.source) for r in new[3].responses.all()] == [("Paris.", "prompts.jsonl")]
    assert not Comparison.objects.exists()


def test_candidates_become_every_pair_in_a_pairwise_project(tmp_path, project):
    rows = [
        {
            "prompt": "Name a colour.",
            "responses": [
                "Red.",
                {"text": "Blue.", "model": "gpt-x"},
                {"text": "Green.", "source": "human"},
            ],
        },
        {"messages": [user("Hi"), assistant("Hello!")], "responses": ["Hey."]},
    ]
    report = data_import(project=project, file=jsonl(tmp_path, "cands.jsonl", rows))

    assert report.as_dict() == report_of(
        created_prompts=2, created_responses=5, created_comparisons=4
    )
    colour = Prompt.objects.get(project=project, source_line=1)
    assert {(r.text, r.source) for r in colour.responses.all()} == {
        ("Red.", "cands.jsonl"),
        ("Blue.", "gpt-x"),
        ("Green.", "human"),
    }
    pairs = {
        tuple(r.text for r in c.ordered_responses())
        for c in Comparison.objects.filter(prompt=colour)
    }
    assert pairs == {("Red.", "Blue."), ("Red.", "Green."), ("Blue.", "Green.")}
    # The trailing assistant turn is a candidate like the others.
    hi = Comparison.objects.get(prompt__source_line=2)
    assert [r.text for r in hi.ordered_responses()] == ["Hello!", "Hey."]


def test_candidates_become_one_ranking_in_a_ranking_project(tmp_path):
    project = ProjectFactory(mode=ProjectMode.RANKING)
    rows = [{"prompt": "Rank us.", "responses": ["one", "two", "three"]}]
    report = data_import(project=project, file=jsonl(tmp_path, "rank.jsonl", rows))
    assert report.created_comparisons == 1
    (comparison,) = Comparison.objects.filter(project=project)
    assert [r.text for r in comparison.ordered_responses()] == ["one", "two", "three"]


PREFERENCE_ROWS = {
    "standard": {"prompt": "Sky colour?", "chosen": "Blue.", "rejected": "Green."},
    "conversational": {
        "prompt": [user("Sky colour?")],
        "chosen": [assistant("Blue.")],
        "rejected": [assistant("Green.")],
    },
    "implicit": {
        "chosen": [user("Sky colour?"), assistant("Blue.")],
        "rejected": [user("Sky colour?"), assistant("Green.")],
    },
}


@pytest.mark.parametrize("layout", list(PREFERENCE_ROWS))
def test_trl_preference_rows_become_a_vote_from_the_imported_rater(tmp_path, project, layout):
    rows = [PREFERENCE_ROWS[layout] | {"tags": ["prefs"]}]
    file = jsonl(tmp_path, f"{layout}.jsonl", rows)

    report = data_import(project=project, file=file)

    assert report.as_dict() == report_of(
        created_prompts=1, created_responses=2, created_comparisons=1, created_votes=1
    )
    prompt = Prompt.objects.get(project=project, source_file=f"{layout}.jsonl")
    assert prompt.messages == [user("Sky colour?")] and prompt.tags == ["prefs"]
    (vote,) = Vote.objects.filter(comparison__prompt=prompt)
    assert vote.choice == "a"
    assert vote.rater.kind == RaterKind.IMPORTED and vote.rater.name == f"imported:{layout}.jsonl"
    assert [r.text for r in vote.comparison.ordered_responses()] == ["Blue.", "Green."]
    assert vote.comparison.vote_count == 1


def test_json_array_lines_are_array_positions(tmp_path, project):
    rows = [{"prompt": "first"}, {"prompt": "second", "responses": ["a", "b"]}]
    file = raw(tmp_path, "prompts.json", json.dumps(rows, indent=2))
    report = data_import(project=project, file=file)
    assert (report.created_prompts, report.created_comparisons) == (2, 1)
    lines = dict(
        Prompt.objects.filter(source_file="prompts.json").values_list("source_line", "messages")
    )
    assert lines == {1: [user("first")], 2: [user("second")]}


@pytest.mark.parametrize(
    ("csv_text", "expected"),
    [
        ('prompt,tags\nHello there,"greeting, short"\n', {"created_prompts": 1}),
        ("question,answer\nWhy?,Because.\nHow?,\n", {"created_prompts": 2, "created_responses": 1}),
        (
            'prompt,chosen,rejected\n"Sky colour?","Blue,\nclearly.",Green.\n',
            {
                "created_prompts": 1,
                "created_responses": 2,
                "created_comparisons": 1,
                "created_votes": 1,
            },
        ),
        (
            'prompt,responses\nPick,"[""x"", {""text"": ""y"", ""model"": ""m""}]"\n',
            {"created_prompts": 1, "created_responses": 2, "created_comparisons": 1},
        ),
    ],
    ids=["prompt", "question-answer", "prompt-chosen-rejected", "prompt-responses"],
)
def test_csv_layouts(tmp_path, project, csv_text, expected):
    report = data_import(project=project, file=raw(tmp_path, "data.csv", csv_text))
    assert report.as_dict() == report_of(**expected)


def test_csv_quoted_line_breaks_stay_in_the_cell_and_lines_are_physical(tmp_path, project):
    text = 'prompt,chosen,rejected\n"Sky colour?","Blue,\nclearly.",Green.\nNext?,Yes.,No.\n'
    data_import(project=project, file=raw(tmp_path, "pairs.csv", text))
    vote = Vote.objects.get(comparison__prompt__source_line=2)
    assert [r.text for r in vote.comparison.ordered_responses()] == ["Blue,\nclearly.", "Green."]
    assert Prompt.objects.filter(source_file="pairs.csv", source_line=4).exists()
    assert Prompt.objects.get(source_line=2, source_file="pairs.csv").tags == []


def test_csv_tags_as_names_or_json(tmp_path, project):
    text = 'prompt,tags\nOne,"a, b"\nTwo,"[""c""]"\n'
    data_import(project=project, file=raw(tmp_path, "tags.csv", text))
    tags = list(Prompt.objects.filter(source_file="tags.csv").values_list("tags", flat=True))
    assert tags == [["a", "b"], ["c"]]


def test_reimport_is_all_duplicates_and_creates_nothing(tmp_path, project):
    rows = [
        {"prompt": "Plain?"},
        {"question": "Q?", "answer": "A."},
        {"prompt": "Pick one", "responses": ["x", "y", "z"]},
        PREFERENCE_ROWS["standard"],
        PREFERENCE_ROWS["conversational"],  # the same pair again, as messages
    ]
    file = jsonl(tmp_path, "mixed.jsonl", rows)
    first = data_import(project=project, file=file)
    assert first.as_dict() == report_of(
        created_prompts=4,
        duplicate_prompts=1,
        created_responses=6,
        duplicate_responses=2,
        created_comparisons=4,
        created_votes=1,
        duplicate_votes=1,
    )
    before = db_counts()

    again = data_import(project=project, file=file)

    assert again.as_dict() == report_of(
        duplicate_prompts=5, duplicate_responses=8, duplicate_votes=2
    )
    assert db_counts() == before


def test_the_same_pairs_under_another_file_name_are_duplicate_votes(tmp_path, project):
    """Imported preference votes dedupe by content (prompt + chosen + rejected), not by the
    file's name: a renamed copy creates no vote and says how many were duplicates (issue 11)."""
    rows = [
        PREFERENCE_ROWS["standard"],
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
    ]
    first = data_import(project=project, file=jsonl(tmp_path, "pairs.jsonl", rows))
    assert (first.created_votes, first.duplicate_votes) == (2, 0)
    before = db_counts()

    again = data_import(project=project, file=jsonl(tmp_path, "pairs-copy.jsonl", rows))

    assert again.as_dict() == report_of(
        duplicate_prompts=2, duplicate_responses=4, duplicate_votes=2
    )
    assert db_counts() == before
    out = io.StringIO()
    copy = jsonl(tmp_path, "pairs-third.jsonl", rows)
    call_command("import_data", str(copy), project=project.slug, stdout=out)
    assert "votes:       0 created, 2 duplicate" in out.getvalue()
    assert Vote.objects.filter(rater__kind=RaterKind.IMPORTED).count() == 2


def test_the_reverse_pair_is_a_new_vote_not_a_duplicate(tmp_path, project):
    """chosen and rejected swapped is other content: it is kept (and the two then disagree)."""
    pair = {"prompt": "Sky colour?", "chosen": "Blue.", "rejected": "Green."}
    swapped = {"prompt": "Sky colour?", "chosen": "Green.", "rejected": "Blue."}
    data_import(project=project, file=jsonl(tmp_path, "one.jsonl", [pair]))
    report = data_import(project=project, file=jsonl(tmp_path, "two.jsonl", [swapped]))
    assert (report.created_votes, report.duplicate_votes) == (1, 0)


def test_new_responses_attach_to_a_duplicate_prompt(tmp_path, project):
    existing = Prompt.objects.get(project=project)
    rows = [{"messages": existing.messages, "responses": [existing.responses.get().text, "New."]}]
    report = data_import(project=project, file=jsonl(tmp_path, "more.jsonl", rows))
    assert report.as_dict() == report_of(
        duplicate_prompts=1, created_responses=1, duplicate_responses=1, created_comparisons=1
    )
    assert existing.responses.count() == 2


def test_file_objects_and_explicit_format(project):
    data = io.BytesIO(b'{"prompt": "From memory"}\n')
    report = data_import(project=project, file=data, filename="upload.txt", fmt="jsonl")
    assert report.created_prompts == 1
    assert Prompt.objects.filter(source_file="upload.txt").exists()


def test_batches_across_a_large_file(tmp_path, project):
    rows = [{"prompt": f"Question {i}", "responses": [f"A{i}", f"B{i}"]} for i in range(1200)]
    rows.append({"prompt": "Question 7", "responses": ["A7", "C7"]})
    report = data_import(project=project, file=jsonl(tmp_path, "big.jsonl", rows))
    assert report.as_dict() == report_of(
        created_prompts=1200,
        duplicate_prompts=1,
        created_responses=2401,
        duplicate_responses=1,
        created_comparisons=1201,
    )


# --- malformed files: a clear error and nothing written --------------------------------------


def assert_refused(project, file, message: str, **kwargs) -> ImportFileError:
    before = db_counts()
    with pytest.raises(ImportFileError) as err:
        data_import(project=project, file=file, **kwargs)
    assert str(err.value) == message
    assert db_counts() == before
    return err.value


GOOD = json.dumps({"prompt": "Good row", "responses": ["x", "y"]})
GOOD_PAIR = json.dumps(PREFERENCE_ROWS["standard"])


def test_bad_json_line(tmp_path, project, write_every_row):
    file = raw(tmp_path, "prompts.jsonl", f'{GOOD}\n{GOOD_PAIR}\n{{"prompt": "oops",}}\n')
    error = assert_refused(
        project,
        file,
        "prompts.jsonl:3: invalid JSON: Expecting property name enclosed in double quotes "
        "(column 19)",
    )
    assert (error.file, error.line, error.field) == ("prompts.jsonl", 3, None)


def test_missing_field(tmp_path, project, write_every_row):
    file = jsonl(
        tmp_path, "pairs.jsonl", [PREFERENCE_ROWS["standard"], {"prompt": "p", "chosen": "c"}]
    )
    assert_refused(
        project,
        file,
        "pairs.jsonl:2: rejected: missing field: a preference row needs chosen and rejected",
    )


def test_row_without_any_prompt_field(tmp_path, project, write_every_row):
    file = jsonl(tmp_path, "prompts.jsonl", [{"prompt": "ok"}, {"text": "what?"}])
    assert_refused(
        project,
        file,
        "prompts.jsonl:2: prompt: missing field: a row needs prompt, messages, conversations, "
        "question, or chosen and rejected",
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": 42}, "prompt: expected a string or a list of messages, got a number"),
        (
            {"messages": [user("hi"), {"role": "user", "content": ["x"]}]},
            "messages[1].content: expected a string, got a list",
        ),
        (
            {"prompt": "p", "responses": "x"},
            "responses: expected a list of strings or {text, source} objects, got a string",
        ),
        ({"prompt": "p", "tags": "ml"}, "tags: expected a list of strings, got a string"),
        (
            {"prompt": "p", "chosen": {"text": "c"}, "rejected": "r"},
            "chosen: expected a string or a list of messages, got an object",
        ),
    ],
)
def test_wrong_typed_field(tmp_path, project, write_every_row, row, message):
    file = jsonl(tmp_path, "rows.jsonl", [{"prompt": "fine"}, row])
    assert_refused(project, file, f"rows.jsonl:2: {message}")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n  \n"),
        ("empty.json", b"[]"),
        ("empty.csv", b""),
        ("header.csv", b"prompt\n"),
    ],
)
def test_empty_file(tmp_path, project, name, content):
    assert_refused(
        project, raw(tmp_path, name, content), f"{name}: the file is empty: no rows to import"
    )


def test_ten_megabyte_line_is_refused_without_parsing(
    tmp_path, project, write_every_row, monkeypatch
):
    parsed_sizes: list[int] = []
    real_loads = json.loads

    def spy(text, *args, **kwargs):
        parsed_sizes.append(len(text))
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(import_.json, "loads", spy)
    huge = json.dumps({"prompt": "x" * (10 * 1024 * 1024)})
    file = raw(tmp_path, "huge.jsonl", f"{GOOD}\n{huge}\n")
    assert_refused(
        project,
        file,
        "huge.jsonl:2: line is longer than 2,097,152 bytes (settings.IMPORT_MAX_LINE_BYTES); "
        "refused without parsing it",
    )
    assert max(parsed_sizes) < 1000


def test_long_line_limit_comes_from_settings(tmp_path, project, settings):
    settings.IMPORT_MAX_LINE_BYTES = 64
    file = raw(tmp_path, "p.jsonl", json.dumps({"prompt": "y" * 100}) + "\n")
    assert_refused(
        project,
        file,
        "p.jsonl:1: line is longer than 64 bytes (settings.IMPORT_MAX_LINE_BYTES); "
        "refused without parsing it",
    )


def test_non_utf8_bytes(tmp_path, project, write_every_row):
    data = (GOOD + "\n").encode() + b'{"prompt": "caf\xe9"}\n'
    file = raw(tmp_path, "latin1.jsonl", data)
    offset = len(GOOD) + 1 + 15
    assert_refused(
        project,
        file,
        f"latin1.jsonl:2: not valid UTF-8: byte 0xe9 at byte offset 15 of the line, {offset} of "
        "the file; save the file as UTF-8",
    )


def test_non_utf8_bytes_in_a_json_array(tmp_path, project):
    file = raw(tmp_path, "latin1.json", b'[\n  {"prompt": "ok"},\n  {"prompt": "caf\xe9"}\n]')
    assert_refused(
        project,
        file,
        "latin1.json: not valid UTF-8: byte 0xe9 on line 3 at byte offset 17 of the line, 39 of "
        "the file; save it as UTF-8",
    )


def test_unknown_role(tmp_path, project, write_every_row):
    rows = [{"prompt": "fine"}, {"messages": [user("hi"), {"role": "robot", "content": "beep"}]}]
    error = assert_refused(
        project,
        jsonl(tmp_path, "prompts.jsonl", rows),
        "prompts.jsonl:2: messages[1].role: unknown role 'robot' (expected system, user or "
        "assistant)",
    )
    assert error.field == "messages[1].role"


@pytest.mark.parametrize(
    ("header", "column"),
    [("text,label", "prompt"), ("prompt,chosen", "rejected"), ("chosen,rejected", "prompt")],
)
def test_csv_missing_column(tmp_path, project, header, column):
    file = raw(tmp_path, "data.csv", f"{header}\na,b\n")
    assert_refused(
        project,
        file,
        f"data.csv:1: {column}: missing column '{column}': the header has "
        f"{header.replace(',', ', ')}; expected prompt, question(,answer), prompt,chosen,rejected "
        "or prompt,responses",
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"messages": [{"role": "system", "content": "s"}]},
            "messages: needs at least one user turn",
        ),
        (
            {"conversations": [user("a"), assistant("b"), assistant("c")]},
            "conversations: the conversation must end with a user turn (optionally followed by one "
            "assistant answer), not assistant",
        ),
        (
            {"prompt": "p", "chosen": "same", "rejected": "same"},
            "rejected: same text as chosen: nothing to prefer",
        ),
        (
            {"chosen": "c", "rejected": "r"},
            "prompt: missing field: chosen and rejected are strings, so give a prompt",
        ),
        (
            {"prompt": "p", "chosen": [user("c")], "rejected": "r"},
            "chosen[0].role: expected assistant, got 'user'",
        ),
        ({"prompt": "  ", "responses": []}, "prompt: must not be empty"),
    ],
)
def test_rows_that_make_no_sense_name_the_field(tmp_path, project, row, message):
    assert_refused(project, jsonl(tmp_path, "x.jsonl", [row]), f"x.jsonl:1: {message}")


def test_unknown_extension_and_format(tmp_path, project):
    assert_refused(
        project,
        raw(tmp_path, "data.xlsx", b"x"),
        "data.xlsx: cannot tell the format from the file name: name it .jsonl, .json or .csv",
    )
    assert_refused(
        project,
        raw(tmp_path, "d.jsonl", b"x"),
        "d.jsonl: unknown format 'xml' (expected jsonl, json or csv)",
        fmt="xml",
    )


# --- skip_invalid ------------------------------------------------------------------------------


def test_skip_invalid_imports_the_good_rows_and_lists_the_bad(tmp_path, project, monkeypatch):
    monkeypatch.setattr(import_, "BATCH_SIZE", 2)
    huge = json.dumps({"prompt": "x" * 5000})
    data = b"\n".join(
        [
            b'{"prompt": "one"}',
            b'{"prompt": "two",}',
            b'{"messages": [{"role": "robot", "content": "x"}]}',
            huge.encode(),
            b'{"prompt": "caf\xe9"}',
            b'{"prompt": "three", "chosen": "a", "rejected": "b"}',
            b"[1, 2]",
        ]
    )
    file = raw(tmp_path, "mixed.jsonl", data + b"\n")
    with monkeypatch.context() as patch:
        patch.setattr("django.conf.settings.IMPORT_MAX_LINE_BYTES", 1024)
        report = data_import(project=project, file=file, skip_invalid=True)
    assert report.created_prompts == 2 and report.created_votes == 1
    assert report.rejected == 5
    assert report.rejected_rows == [
        "mixed.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes "
        "(column 18)",
        "mixed.jsonl:3: messages[0].role: unknown role 'robot' (expected system, user or "
        "assistant)",
        "mixed.jsonl:4: line is longer than 1,024 bytes (settings.IMPORT_MAX_LINE_BYTES); "
        "refused without parsing it",
        f"mixed.jsonl:5: not valid UTF-8: byte 0xe9 at byte offset 15 of the line, "
        f"{data.index(b'caf') + 3} of the file; save the file as UTF-8",
        "mixed.jsonl:7: expected a JSON object, got a list",
    ]
    assert list(
        Prompt.objects.filter(source_file="mixed.jsonl").values_list("source_line", flat=True)
    ) == [1, 6]


def test_skip_invalid_in_csv_keeps_line_numbers(tmp_path, project):
    data = b'prompt,responses\nok,\nbad,"[1]"\n\xff,\n"multi\nline",\nlast,"[""a"",""b""]"\n'
    report = data_import(project=project, file=raw(tmp_path, "r.csv", data), skip_invalid=True)
    assert report.rejected_rows == [
        "r.csv:3: responses[0]: expected a string or an object, got a number",
        f"r.csv:4: not valid UTF-8: byte 0xff at byte offset 0 of the line, {data.index(255)} "
        "of the file; save the file as UTF-8",
    ]
    lines = Prompt.objects.filter(source_file="r.csv").values_list("source_line", flat=True)
    assert list(lines) == [2, 5, 7]


def test_skip_invalid_still_refuses_an_empty_file(tmp_path, project):
    assert_refused(
        project,
        raw(tmp_path, "e.jsonl", b""),
        "e.jsonl: the file is empty: no rows to import",
        skip_invalid=True,
    )


# --- management command -------------------------------------------------------------------------


def test_command_prints_the_report(tmp_path, project):
    file = jsonl(tmp_path, "pairs.jsonl", [PREFERENCE_ROWS["standard"], {"prompt": "x"}])
    out = io.StringIO()
    call_command("import_data", str(file), "--project", "demo", stdout=out)
    assert out.getvalue().splitlines() == [
        "Imported pairs.jsonl into project demo:",
        "prompts:     2 created, 0 duplicate",
        "responses:   2 created, 0 duplicate",
        "comparisons: 1 created",
        "votes:       1 created, 0 duplicate",
        "rejected:    0",
    ]


def test_command_creates_the_project_only_with_the_flag(tmp_path):
    file = raw(tmp_path, "p.csv", "prompt\nHello\n")
    with pytest.raises(CommandError, match="no project with slug 'fresh'; pass --create-project"):
        call_command("import_data", str(file), "--project", "fresh")
    call_command(
        "import_data", str(file), "--project", "fresh", "--create-project", stdout=io.StringIO()
    )
    assert Prompt.objects.filter(project__slug="fresh").count() == 1


def test_command_failure_exits_non_zero_and_leaves_no_new_project(tmp_path, capsys, monkeypatch):
    # run_from_argv closes every connection when done, which would end the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    file = raw(tmp_path, "bad.jsonl", '{"prompt": "ok"}\n{"prompt": 1}\n')
    before = db_counts()
    with pytest.raises(SystemExit) as exit_info:
        ImportCommand().run_from_argv(
            ["manage.py", "import_data", str(file), "--project", "new", "--create-project"]
        )
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "CommandError: nothing was imported: bad.jsonl:2: prompt: expected a string or a list "
        "of messages, got a number"
    )
    assert db_counts() == before


def test_command_skip_invalid_lists_rejected_rows(tmp_path, project):
    file = raw(tmp_path, "p.jsonl", '{"prompt": "ok"}\n{"prompt": 1}\n')
    out = io.StringIO()
    call_command(
        "import_data",
        str(file),
        "--project",
        "demo",
        "--skip-invalid",
        "--format",
        "jsonl",
        stdout=out,
    )
    assert "rejected:    1" in out.getvalue()
    assert "  p.jsonl:2: prompt: expected a string or a list of messages" in out.getvalue()


# --- admin view --------------------------------------------------------------------------------

site = admin.AdminSite(name="admin")


@admin.register(Project, site=site)
class ImportingProjectAdmin(ProjectAdminImportMixin, admin.ModelAdmin):
    pass


urlpatterns = [path("admin/", site.urls)]


@pytest.fixture
def admin_client_here(client):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


@pytest.mark.urls(__name__)
def test_admin_upload_shows_the_report(admin_client_here, project, tmp_path):
    url = reverse("admin:annotate_project_import", args=[project.pk])
    page = admin_client_here.get(url)
    assert page.status_code == 200
    assert f'<option value="{project.pk}" selected>' in page.content.decode()

    upload = io.BytesIO(
        (json.dumps(PREFERENCE_ROWS["standard"]) + "\n" + '{"prompt": 5}\n').encode()
    )
    upload.name = "prefs.jsonl"
    response = admin_client_here.post(
        url, {"project": project.pk, "file": upload, "skip_invalid": "on"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<tr><th>Votes</th><td>1</td>" in html
    assert "<tr><th>Prompts</th><td>1</td><td>0</td></tr>" in html
    assert "prefs.jsonl:2: prompt: expected a string or a list of messages" in html
    assert Vote.objects.filter(rater__name="imported:prefs.jsonl").count() == 1


@pytest.mark.urls(__name__)
def test_admin_bad_file_shows_the_error_and_imports_nothing(admin_client_here, project):
    before = db_counts()
    upload = io.BytesIO(b"text,label\nhello,1\n")
    upload.name = "data.csv"
    response = admin_client_here.post(
        reverse("admin:annotate_project_import_any"), {"project": project.pk, "file": upload}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was imported." in html
    assert "data.csv:1: prompt: missing column &#x27;prompt&#x27;" in html
    assert db_counts() == before


@pytest.mark.urls(__name__)
def test_admin_pages_link_to_the_import(admin_client_here, project):
    changelist = admin_client_here.get(reverse("admin:annotate_project_changelist"))
    assert f'href="{reverse("admin:annotate_project_import_any")}"' in changelist.content.decode()
    change = admin_client_here.get(reverse("admin:annotate_project_change", args=[project.pk]))
    import_url = reverse("admin:annotate_project_import", args=[project.pk])
    assert f'href="{import_url}"' in change.content.decode()


@pytest.mark.urls(__name__)
def test_admin_import_needs_permission(client, project):
    client.force_login(UserFactory(username="staff", is_staff=True))
    response = client.get(reverse("admin:annotate_project_import", args=[project.pk]))
    assert response.status_code == 403
    assert not Rater.objects.exists() and Response.objects.count() == 1


def test_preference_on_an_existing_comparison_votes_through_vote_submit(tmp_path, project):
    """The same pair, first imported as candidates, then as trl preference data: one comparison."""
    candidates = [{"prompt": "Sky colour?", "responses": ["Blue.", "Green."]}]
    data_import(project=project, file=jsonl(tmp_path, "cands.jsonl", candidates))

    report = data_import(
        project=project, file=jsonl(tmp_path, "prefs.jsonl", [PREFERENCE_ROWS["standard"]])
    )

    assert report.as_dict() == report_of(
        duplicate_prompts=1, duplicate_responses=2, created_votes=1
    )
    comparison = Comparison.objects.get(prompt__source_file="cands.jsonl")
    assert comparison.vote_count == 1
    assert list(comparison.votes.values_list("rater__name", "choice")) == [
        ("imported:prefs.jsonl", "a")
    ]


def test_csv_row_with_the_wrong_number_of_cells(tmp_path, project):
    file = raw(tmp_path, "p.csv", "prompt,chosen,rejected\nP,C,R\nP2,C2\n")
    assert_refused(project, file, "p.csv:3: expected 3 cells (prompt, chosen, rejected), got 2")
