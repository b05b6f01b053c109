from __future__ import annotations

import hashlib
import inspect
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from annotate.errors import ValidationError
from annotate.models import DatasetSnapshot, Rater, RaterKind, Vote
from annotate.services.comparisons import comparisons_create_for_prompt
from annotate.services.export import ExportOptions, export_rows, snapshot_export
from annotate.services.export import writer as export_writer
from annotate.services.export.aggregate import Rules, VoteFacts, aggregate_comparison
from annotate.services.export.rows import render_prompt
from annotate.services.votes import vote_submit
from tests.factories import (
    HumanRaterFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
    make_comparison,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def judge() -> Rater:
    return Rater.objects.create(kind=RaterKind.JUDGE, name=f"judge:{Rater.objects.count()}")


def vote(comparison, choice: str = "", *, rater=None, **kwargs) -> Vote:
    return vote_submit(
        comparison=comparison, rater=rater or HumanRaterFactory(), choice=choice, **kwargs
    )


def texts(comparison) -> list[str]:
    return [r.text for r in comparison.ordered_responses()]


def export(project, **options) -> tuple[list[dict], Counter]:
    counts: Counter = Counter()
    rows = list(export_rows(project=project, options=ExportOptions(**options), counts=counts))
    return rows, counts


def snapshot_dirs() -> list[Path]:
    root = Path(settings.DATA_DIR) / "snapshots"
    return sorted(root.iterdir()) if root.exists() else []


# --- aggregation -------------------------------------------------------------------------------


def test_majority_of_votes_picks_chosen_and_rejected():
    comparison = make_comparison()
    a, b = texts(comparison)
    for choice in ["b", "b", "a"]:
        vote(comparison, choice)
    rows, counts = export(comparison.project)
    assert rows == [
        {"prompt": comparison.prompt.messages[0]["content"], "chosen": b, "rejected": a}
    ]
    assert counts["comparisons_used"] == 1 and counts["votes_used"] == 3


def test_plurality_tie_between_labels_is_dropped_and_counted():
    comparison = make_comparison()
    vote(comparison, "a")
    vote(comparison, "b")
    rows, counts = export(comparison.project)
    assert rows == []
    assert counts["dropped_split"] == 1


def test_ties_are_dropped_unless_kept_then_written_both_ways_with_zero_margin():
    comparison = make_comparison()
    a, b = texts(comparison)
    for choice in ["tie", "tie", "a"]:
        vote(comparison, choice)
    rows, counts = export(comparison.project)
    assert rows == [] and counts["dropped_ties"] == 1
    rows, _ = export(comparison.project, keep_ties=True, include_margin=True)
    assert [(r["chosen"], r["rejected"], r["margin"]) for r in rows] == [(a, b, 0.0), (b, a, 0.0)]


def test_both_bad_is_dropped_unless_kept_and_kto_labels_both_undesirable():
    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "both_bad")
    rows, counts = export(comparison.project)
    assert rows == [] and counts["dropped_both_bad"] == 1
    rows, _ = export(comparison.project, keep_both_bad=True)
    assert {(r["chosen"], r["rejected"]) for r in rows} == {(a, b), (b, a)}
    kto, counts = export(comparison.project, kind="kto", keep_both_bad=True)
    assert sorted((r["completion"], r["label"]) for r in kto) == [(a, False), (b, False)]
    assert counts["undesirable"] == 2
    sft, _ = export(comparison.project, kind="sft", keep_both_bad=True)
    assert sft == []


def test_min_agreement_drops_contested_comparisons():
    comparison = make_comparison()
    for choice in ["a", "a", "b"]:
        vote(comparison, choice)
    assert len(export(comparison.project, min_agreement=0.6)[0]) == 1
    rows, counts = export(comparison.project, min_agreement=0.7)
    assert rows == [] and counts["dropped_low_agreement"] == 1


def test_rater_kind_filter_changes_the_majority():
    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "a")
    vote(comparison, "b", rater=judge())
    vote(comparison, "b", rater=judge())
    assert export(comparison.project, judge_admission="any")[0][0]["chosen"] == b
    assert export(comparison.project)[0][0]["chosen"] == a  # judges not admitted
    assert export(comparison.project, rater_kinds=("human",))[0][0]["chosen"] == a
    rows, counts = export(comparison.project, rater_kinds=("imported",))
    assert rows == [] and counts["comparisons_without_votes"] == 1


def test_date_filter_counts_only_votes_created_in_range():
    comparison = make_comparison()
    a, b = texts(comparison)
    now = timezone.now()
    old = vote(comparison, "a")
    vote(comparison, "b")
    Vote.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=10))
    rows, _ = export(comparison.project, since=now - timedelta(days=1))
    assert rows[0]["chosen"] == b
    rows, _ = export(comparison.project, until=now - timedelta(days=5))
    assert rows[0]["chosen"] == a
    assert export(comparison.project)[1]["dropped_split"] == 1


def test_margin_is_mean_signed_strength_toward_the_winner():
    comparison = make_comparison()
    vote(comparison, "a", strength=3)
    vote(comparison, "a")  # no strength: counts 1
    vote(comparison, "b", strength=1)
    vote(comparison, "tie")  # counts 0
    rows, _ = export(comparison.project, include_margin=True)
    assert rows[0]["margin"] == pytest.approx((3 + 1 - 1 + 0) / 4)
    assert "margin" not in export(comparison.project)[0][0]


def test_n_way_ranking_becomes_every_implied_pair():
    comparison = make_comparison(n=3)
    r1, r2, r3 = comparison.ordered_responses()
    vote(comparison, ranking=[[r3.pk], [r1.pk], [r2.pk]])
    vote(comparison, ranking=[[r3.pk], [r2.pk], [r1.pk]])
    vote(comparison, ranking=[[r3.pk], [r1.pk, r2.pk]])
    rows, counts = export(comparison.project, include_margin=True)
    pairs = {(r["chosen"], r["rejected"]): r["margin"] for r in rows}
    # r3 wins every vote; r1 vs r2 is 1-1 (one vote ties them): dropped.
    assert pairs == {(r3.text, r1.text): 1.0, (r3.text, r2.text): 1.0}
    assert counts["dropped_split"] == 1
    vote(comparison, ranking=[[r1.pk], [r2.pk], [r3.pk]])
    pairs = {(r["chosen"], r["rejected"]) for r in export(comparison.project)[0]}
    assert pairs == {(r3.text, r1.text), (r3.text, r2.text), (r1.text, r2.text)}


def test_n_way_unanimous_tier_tie_is_a_tie():
    comparison = make_comparison(n=3)
    r1, r2, r3 = comparison.ordered_responses()
    vote(comparison, ranking=[[r1.pk, r2.pk], [r3.pk]])
    rows, counts = export(comparison.project)
    assert {(r["chosen"], r["rejected"]) for r in rows} == {(r1.text, r3.text), (r2.text, r3.text)}
    assert counts["dropped_ties"] == 1
    rows, _ = export(comparison.project, keep_ties=True)
    assert (r2.text, r1.text) in {(r["chosen"], r["rejected"]) for r in rows}


def test_edit_ranks_above_chosen_above_rejected_and_identical_edits_are_deduped():
    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "a", edited_text="A, but better.")
    vote(comparison, "a", edited_text="A, but better.")  # same text: the same Response
    rows, counts = export(comparison.project, include_margin=True)
    assert {(r["chosen"], r["rejected"]) for r in rows} == {
        ("A, but better.", a),
        ("A, but better.", b),
        (a, b),
    }
    assert len(rows) == 3
    assert counts["pairs_from_edit"] == 2 and counts["pairs_from_verdict"] == 1
    sft, _ = export(comparison.project, kind="sft")
    assert [r["completion"] for r in sft] == ["A, but better."]
    kto, _ = export(comparison.project, kind="kto")
    # a wins against b and loses to the edit: no clear label, dropped.
    assert sorted((r["completion"], r["label"]) for r in kto) == [
        ("A, but better.", True),
        (b, False),
    ]


def three_way_pairwise():
    """A pairwise project's prompt with three responses: comparisons 1-2, 1-3, 2-3."""
    project = ProjectFactory()
    prompt = PromptFactory(project=project)
    responses = [ResponseFactory(prompt=prompt) for _ in range(3)]
    comparisons = comparisons_create_for_prompt(project=project, prompt=prompt, responses=responses)
    return project, responses, comparisons


def test_pairs_repeated_across_comparisons_of_one_prompt_are_written_once():
    project, (r1, r2, r3), (c12, c13, _) = three_way_pairwise()
    vote(c12, "a", edited_text="Best answer.")
    vote(c13, "a", edited_text="Best answer.")
    rows, counts = export(project)
    pairs = [(r["chosen"], r["rejected"]) for r in rows]
    assert sorted(pairs) == sorted(
        [
            (r1.text, r2.text),
            (r1.text, r3.text),
            ("Best answer.", r1.text),  # from both comparisons, written once
            ("Best answer.", r2.text),
            ("Best answer.", r3.text),
        ]
    )
    assert counts["duplicate_pairs"] == 1


def test_kto_labels_are_decided_per_prompt_not_per_comparison():
    project, (r1, r2, r3), (c12, c13, c23) = three_way_pairwise()
    vote(c12, "a")
    vote(c13, "a")
    vote(c23, "a")
    kto, counts = export(project, kind="kto")
    # r2 beats r3 but loses to r1: one win, one loss, no label.
    assert sorted((r["completion"], r["label"]) for r in kto) == sorted(
        [(r1.text, True), (r3.text, False)]
    )
    assert counts["dropped_balanced"] == 1
    assert [r["completion"] for r in export(project, kind="sft")[0]] == [r1.text]


def test_a_final_verdict_overrides_the_majority():
    """The hook reviewer adjudication (issue 3) will use: the verdict wins over split votes."""
    votes = [VoteFacts("a"), VoteFacts("b")]
    counts: Counter = Counter()
    assert aggregate_comparison([1, 2], votes, Rules(), counts).pairs == []
    assert counts["dropped_split"] == 1
    overridden = aggregate_comparison([1, 2], votes, Rules(min_agreement=0.9), counts, "b")
    assert [(p.chosen, p.rejected) for p in overridden.pairs] == [(2, 1)]
    assert overridden.pairs[0].margin == 0.0  # one vote each way


def test_project_filter_and_all_projects():
    first, second = make_comparison(), make_comparison()
    vote(first, "a")
    vote(second, "b")
    assert len(export(first.project)[0]) == 1
    assert len(export(None)[0]) == 2


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": "dpo"}, "kind"),
        ({"format": "chatml"}, "format"),
        ({"rater_kinds": ()}, "rater_kinds"),
        ({"rater_kinds": ("robot",)}, "rater_kinds"),
        ({"min_agreement": 1.5}, "min_agreement"),
    ],
)
def test_bad_options_name_the_field(options, field):
    with pytest.raises(ValidationError) as err:
        export_rows(project=None, options=ExportOptions(**options))
    assert err.value.field == field


# --- row shapes --------------------------------------------------------------------------------


def test_standard_prompt_rendering():
    assert render_prompt([{"role": "user", "content": "The sky is"}]) == "The sky is"
    assert render_prompt(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Sky colour?"},
        ]
    ) == ("System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: Sky colour?\n\nAssistant: ")


@pytest.fixture
def multi_turn_comparison():
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What colour is the sky?", "name": "dropped-extra-key"},
    ]
    comparison = make_comparison(prompt=PromptFactory(messages=messages))
    vote(comparison, "a", strength=2)
    return comparison


def test_preference_rows_in_both_formats(multi_turn_comparison):
    a, b = texts(multi_turn_comparison)
    project = multi_turn_comparison.project
    standard, _ = export(project, include_margin=True)
    assert standard == [
        {
            "prompt": "User: Hi\n\nAssistant: Hello!\n\nUser: What colour is the sky?\n\nAssistant: ",
            "chosen": a,
            "rejected": b,
            "margin": 2.0,
        }
    ]
    conversational, _ = export(project, format="conversational")
    assert conversational == [
        {
            "prompt": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "What colour is the sky?"},
            ],
            "chosen": [{"role": "assistant", "content": a}],
            "rejected": [{"role": "assistant", "content": b}],
        }
    ]


@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_kto_and_sft_rows(multi_turn_comparison, fmt):
    a, b = texts(multi_turn_comparison)
    project = multi_turn_comparison.project
    kto, _ = export(project, kind="kto", format=fmt)
    sft, _ = export(project, kind="sft", format=fmt)
    if fmt == "standard":
        assert [set(r) for r in kto] == [{"prompt", "completion", "label"}] * 2
        assert {(r["completion"], r["label"]) for r in kto} == {(a, True), (b, False)}
        assert [r["completion"] for r in sft] == [a]
        assert isinstance(sft[0]["prompt"], str)
    else:
        assert {(r["completion"][0]["content"], r["label"]) for r in kto} == {(a, True), (b, False)}
        assert sft[0]["completion"] == [{"role": "assistant", "content": a}]
        assert sft[0]["prompt"][-1] == {"role": "user", "content": "What colour is the sky?"}


# --- streaming ---------------------------------------------------------------------------------


def test_export_rows_streams_and_chunks_do_not_change_the_rows():
    project = ProjectFactory()
    for i in range(5):
        prompt = PromptFactory(project=project)
        for _ in range(2):
            comparison = make_comparison(project=project, prompt=prompt)
            vote(comparison, "a", edited_text=f"Edit {i}")
    rows = export_rows(project=project, options=ExportOptions())
    assert inspect.isgenerator(rows)
    first = next(rows)
    assert set(first) == {"prompt", "chosen", "rejected"}
    whole = [first, *rows]
    for chunk_size in (1, 3):
        chunked = export_rows(project=project, options=ExportOptions(), chunk_size=chunk_size)
        assert list(chunked) == whole
    assert len(whole) == 5 * (2 + 4)  # per prompt: two verdicts, the edit over four responses


# --- snapshots ---------------------------------------------------------------------------------


def test_snapshot_writes_jsonl_dataset_dir_hash_and_row(multi_turn_comparison):
    import datasets

    user = UserFactory()
    project = multi_turn_comparison.project
    snapshot = snapshot_export(
        project=project,
        options=ExportOptions(format="conversational", include_margin=True),
        name="first pairs",
        user=user,
    )
    snapshot.refresh_from_db()
    folder = Path(snapshot.path)
    assert folder.parent == Path(settings.DATA_DIR) / "snapshots"
    jsonl = folder / snapshot.files["jsonl"]
    data = jsonl.read_bytes()
    assert snapshot.content_hash == hashlib.sha256(data).hexdigest()
    assert [json.loads(line) for line in data.splitlines()] == export(
        project, format="conversational", include_margin=True
    )[0]
    assert snapshot.row_count == 1 and snapshot.created_by == user
    assert (snapshot.kind, snapshot.format, snapshot.project) == (
        "preference",
        "conversational",
        project,
    )
    assert snapshot.filters["project"] == project.slug and snapshot.filters["include_margin"]
    assert snapshot.counts["rows"] == 1 and snapshot.counts["votes_used"] == 1
    loaded = datasets.load_from_disk(str(folder / snapshot.files["dataset"]))
    assert loaded.num_rows == 1 and loaded[0]["chosen"][0]["role"] == "assistant"
    manifest = json.loads((folder / snapshot.files["manifest"]).read_text())
    assert manifest["sha256"]["jsonl"] == snapshot.content_hash
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tmp")]


def test_failed_export_leaves_no_files_and_no_row(multi_turn_comparison, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    before = snapshot_dirs()
    monkeypatch.setattr(export_writer, "save_dataset_dir", broken)
    with pytest.raises(OSError, match="disk full"):
        snapshot_export(project=multi_turn_comparison.project, options=ExportOptions())
    assert not DatasetSnapshot.objects.exists()
    assert snapshot_dirs() == before


def test_failure_while_recording_removes_the_renamed_directory(multi_turn_comparison, monkeypatch):
    def broken(path, snapshot):
        raise RuntimeError("manifest failed")

    before = snapshot_dirs()
    monkeypatch.setattr(export_writer, "_write_manifest", broken)
    with pytest.raises(RuntimeError):
        snapshot_export(
            project=multi_turn_comparison.project, options=ExportOptions(), save_to_disk=False
        )
    assert not DatasetSnapshot.objects.exists()
    assert snapshot_dirs() == before


def test_empty_export_is_refused_with_the_reason():
    comparison = make_comparison()
    vote(comparison, "tie")
    before = snapshot_dirs()
    with pytest.raises(ValidationError, match="1 ties dropped"):
        snapshot_export(project=comparison.project, options=ExportOptions(), save_to_disk=False)
    assert not DatasetSnapshot.objects.exists() and snapshot_dirs() == before


# --- command -----------------------------------------------------------------------------------


def test_export_data_command_records_a_snapshot(multi_turn_comparison, capsys):
    project = multi_turn_comparison.project
    call_command(
        "export_data",
        "--project",
        project.slug,
        "--kind",
        "kto",
        "--format",
        "conversational",
        "--rater-kinds",
        "human,judge",
        "--since",
        "2000-01-01",
        "--no-dataset-dir",
    )
    out = capsys.readouterr().out
    snapshot = DatasetSnapshot.objects.get()
    assert f"Snapshot {snapshot.pk}" in out and "rows:   2 (kto, conversational)" in out
    assert snapshot.filters["rater_kinds"] == ["human", "judge"]
    assert snapshot.filters["since"].startswith("2000-01-01T00:00:00")
    assert "dataset" not in snapshot.files


def test_export_data_command_streams_to_stdout(multi_turn_comparison, capsys):
    call_command("export_data", "--print", "--margin")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["margin"] for line in lines] == [2.0]
    assert not DatasetSnapshot.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope"], "no project with slug 'nope'"),
        (["--rater-kinds", "robot"], "--rater-kinds: unknown rater kind"),
        (["--since", "yesterday"], "--since/--until"),
        (["--min-agreement", "2"], "--min-agreement"),
    ],
)
def test_export_data_command_errors(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_data", *args)


def test_export_data_command_says_why_nothing_was_exported():
    make_comparison()
    with pytest.raises(CommandError, match="nothing was exported.*1 without matching votes"):
        call_command("export_data", "--no-dataset-dir")


# --- admin action ------------------------------------------------------------------------------


@pytest.fixture
def admin_client_with_action(client, monkeypatch):
    """The admin with export_snapshot among ProjectAdmin's actions (as the lead wires it)."""
    from django.contrib import admin

    from annotate.admin_actions import export_snapshot
    from annotate.models import Project

    project_admin = admin.site._registry[Project]
    if export_snapshot not in (project_admin.actions or []):
        monkeypatch.setattr(
            project_admin, "actions", [*(project_admin.actions or []), export_snapshot]
        )
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_admin_action_shows_the_form_then_creates_and_links_the_snapshot(
    admin_client_with_action, multi_turn_comparison
):
    client = admin_client_with_action
    project = multi_turn_comparison.project
    url = "/admin/annotate/project/"
    page = client.post(url, {"action": "export_snapshot", "_selected_action": [project.pk]})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="min_agreement"' in html and 'name="rater_kinds"' in html and project.name in html
    assert not DatasetSnapshot.objects.exists()

    response = client.post(
        url,
        {
            "action": "export_snapshot",
            "_selected_action": [project.pk],
            "apply": "yes",
            "kind": "preference",
            "format": "standard",
            "rater_kinds": ["human"],
            "min_agreement": "0.5",
            "include_margin": "on",
            "since": "2000-01-01",
            "name": "from admin",
        },
        follow=True,
    )
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.name == "from admin" and snapshot.row_count == 1
    assert snapshot.filters["min_agreement"] == 0.5 and snapshot.filters["rater_kinds"] == ["human"]
    assert "dataset" not in snapshot.files  # the unticked checkbox
    assert f"/admin/annotate/datasetsnapshot/{snapshot.pk}/change/" in response.content.decode()


def test_admin_action_form_errors_are_shown_and_nothing_is_exported(
    admin_client_with_action, multi_turn_comparison
):
    project = multi_turn_comparison.project
    response = admin_client_with_action.post(
        "/admin/annotate/project/",
        {
            "action": "export_snapshot",
            "_selected_action": [project.pk],
            "apply": "yes",
            "kind": "preference",
            "format": "standard",
            "rater_kinds": [],
            "min_agreement": "3",
            "since": "2025-02-01",
            "until": "2025-01-01",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200 and "errorlist" in html
    assert "before its start" in html
    assert not DatasetSnapshot.objects.exists()


def test_admin_action_warns_when_a_project_has_nothing_to_export(admin_client_with_action):
    project = make_comparison().project
    response = admin_client_with_action.post(
        "/admin/annotate/project/",
        {
            "action": "export_snapshot",
            "_selected_action": [project.pk],
            "apply": "yes",
            "kind": "sft",
            "format": "standard",
            "rater_kinds": ["human", "judge", "imported"],
            "min_agreement": "0",
        },
        follow=True,
    )
    assert "nothing exported" in response.content.decode()
    assert not DatasetSnapshot.objects.exists()


def test_a_reviewers_final_verdict_overrides_the_majority_unless_told_otherwise():
    from annotate.models import Adjudication
    from annotate.services.export import ExportOptions, export_rows
    from annotate.services.votes import vote_submit
    from tests.factories import HumanRaterFactory, UserFactory, make_comparison

    comparison = make_comparison()
    a, b = comparison.ordered_responses()
    for choice in ("a", "a", "b"):
        vote_submit(comparison=comparison, rater=HumanRaterFactory(), choice=choice)
    Adjudication.objects.create(comparison=comparison, reviewer=UserFactory(), choice="b")
    project = comparison.project
    rows = list(export_rows(project=project, options=ExportOptions()))
    assert [(r["chosen"], r["rejected"]) for r in rows] == [(b.text, a.text)]
    majority = list(export_rows(project=project, options=ExportOptions(prefer_adjudication=False)))
    assert [(r["chosen"], r["rejected"]) for r in majority] == [(a.text, b.text)]


# --- AI-judge votes: include, exclude, weight, soft labels, metadata filters -------------------


def judge_vote(comparison, choice: str = "", **kwargs) -> Vote:
    return vote(comparison, choice, rater=judge(), **kwargs)


def verdict(project, **options) -> tuple[list[tuple[str, str]], Counter]:
    rows, counts = export(project, **options)
    return [(r["chosen"], r["rejected"]) for r in rows], counts


@pytest.mark.usefixtures("every_judge_counts")
def test_judge_votes_exclude_and_only_pick_whose_votes_count():
    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "a")
    judge_vote(comparison, "b")
    judge_vote(comparison, "b")
    assert verdict(comparison.project)[0] == [(b, a)]
    pairs, counts = verdict(comparison.project, judge_votes="exclude")
    assert pairs == [(a, b)] and counts["votes_used"] == 1
    pairs, counts = verdict(comparison.project, judge_votes="only")
    assert pairs == [(b, a)] and counts["votes_used"] == 2
    # The same as the rater-kind filter it stands for.
    assert export(comparison.project, judge_votes="exclude") == export(
        comparison.project, rater_kinds=("human", "imported")
    )


@pytest.mark.usefixtures("every_judge_counts")
def test_half_weight_judges_lose_to_two_humans_they_outnumber():
    comparison = make_comparison()
    a, b = texts(comparison)
    for _ in range(2):
        vote(comparison, "a")
    for _ in range(3):
        judge_vote(comparison, "b")
    assert verdict(comparison.project)[0] == [(b, a)]  # 3 votes to 2
    rows, _ = export(comparison.project, judge_weight=0.5, include_margin=True)
    # a: 2, b: 1.5; margin (1 + 1 - 3 x 0.5) / 3.5
    assert [(r["chosen"], r["rejected"]) for r in rows] == [(a, b)]
    assert rows[0]["margin"] == pytest.approx(0.5 / 3.5, abs=1e-6)
    assert len(export(comparison.project, judge_weight=0.5, min_agreement=0.57)[0]) == 1
    pairs, counts = verdict(comparison.project, judge_weight=0.5, min_agreement=0.58)
    assert pairs == [] and counts["dropped_low_agreement"] == 1  # agreement 2 / 3.5 = 0.571


@pytest.mark.usefixtures("every_judge_counts")
def test_double_weight_judge_outvotes_one_human_and_equal_weights_split():
    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "a")
    judge_vote(comparison, "b")
    assert verdict(comparison.project)[1]["dropped_split"] == 1
    assert verdict(comparison.project, judge_weight=2)[0] == [(b, a)]
    judge_vote(comparison, "b")
    pairs, counts = verdict(comparison.project, judge_weight=0.5)  # 1 to 0.5 + 0.5
    assert pairs == [] and counts["dropped_split"] == 1


@pytest.mark.usefixtures("every_judge_counts")
def test_fractional_weights_that_add_up_to_a_human_vote_still_split():
    """0.1 added ten times is 0.9999999999999999: rounding must not hand the human the win."""
    comparison = make_comparison()
    vote(comparison, "a")
    for _ in range(10):
        judge_vote(comparison, "b")
    pairs, counts = verdict(comparison.project, judge_weight=0.1)
    assert pairs == [] and counts["dropped_split"] == 1


@pytest.mark.usefixtures("every_judge_counts")
def test_judge_weight_counts_in_n_way_rankings():
    comparison = make_comparison(n=3)
    r1, r2, r3 = comparison.ordered_responses()
    vote(comparison, ranking=[[r1.pk], [r2.pk], [r3.pk]])
    judge_vote(comparison, ranking=[[r3.pk], [r2.pk], [r1.pk]])
    judge_vote(comparison, ranking=[[r3.pk], [r2.pk], [r1.pk]])
    by_default = {(r["chosen"], r["rejected"]) for r in export(comparison.project)[0]}
    assert by_default == {(r3.text, r1.text), (r3.text, r2.text), (r2.text, r1.text)}
    rows, _ = export(comparison.project, judge_weight=0.4, include_margin=True)
    assert {(r["chosen"], r["rejected"]): r["margin"] for r in rows} == {
        (r1.text, r2.text): pytest.approx(0.2 / 1.8, abs=1e-6),
        (r1.text, r3.text): pytest.approx(0.2 / 1.8, abs=1e-6),
        (r2.text, r3.text): pytest.approx(0.2 / 1.8, abs=1e-6),
    }


@pytest.mark.usefixtures("every_judge_counts")
def test_soft_label_counts_its_probability_toward_each_response():
    comparison = make_comparison()
    a, b = texts(comparison)
    judge_vote(comparison, "a", preference_probability=0.7)
    rows, _ = export(comparison.project, judge_soft_labels=True, include_margin=True)
    # Alone: a wins 0.7 to 0.3, margin 0.7 - 0.3, agreement 0.7 (not the hard vote's 1).
    assert [(r["chosen"], r["rejected"], r["margin"]) for r in rows] == [(a, b, 0.4)]
    assert export(comparison.project, include_margin=True)[0][0]["margin"] == 1.0
    pairs, counts = verdict(comparison.project, judge_soft_labels=True, min_agreement=0.75)
    assert pairs == [] and counts["dropped_low_agreement"] == 1
    assert len(export(comparison.project, min_agreement=0.75)[0]) == 1

    vote(comparison, "b")  # hard: one vote each way, a split
    assert verdict(comparison.project)[1]["dropped_split"] == 1
    rows, _ = export(comparison.project, judge_soft_labels=True, include_margin=True)
    # a 0.7, b 0.3 + 1; margin toward b (1 + 0.3 - 0.7) / 2
    assert [(r["chosen"], r["rejected"]) for r in rows] == [(b, a)]
    assert rows[0]["margin"] == pytest.approx(0.3, abs=1e-6)
    # Weighted soft label: a 0.7 x 3 = 2.1 against b 0.9 + 1.
    assert verdict(comparison.project, judge_soft_labels=True, judge_weight=3)[0] == [(a, b)]


@pytest.mark.usefixtures("every_judge_counts")
def test_soft_labels_leave_humans_and_probability_less_judges_hard():
    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "a", preference_probability=0.1)  # a human's probability is not used
    judge_vote(comparison, "a")  # no probability: counts as its verdict
    judge_vote(comparison, "b", preference_probability=0.5)  # half and half
    pairs, _ = verdict(comparison.project, judge_soft_labels=True, include_margin=True)
    assert pairs == [(a, b)]  # a 2.5, b 0.5
    even = make_comparison()
    judge_vote(even, "a", preference_probability=0.5)
    pairs, counts = verdict(even.project, judge_soft_labels=True)
    assert pairs == [] and counts["dropped_split"] == 1


@pytest.mark.usefixtures("every_judge_counts")
def test_min_confidence_drops_unsure_judge_votes_in_the_query():
    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "a", metadata={"confidence": 0.1})  # humans are never filtered
    judge_vote(comparison, "b", metadata={"confidence": 0.55})
    judge_vote(comparison, "b", metadata={"confidence": None})
    judge_vote(comparison, "a", metadata={"confidence": 0.9})
    assert verdict(comparison.project)[1]["dropped_split"] == 1  # 2 to 2
    pairs, counts = verdict(comparison.project, judge_min_confidence=0.6)
    assert pairs == [(a, b)] and counts["votes_used"] == 2
    assert counts["dropped_judge_votes_low_confidence"] == 2


@pytest.mark.usefixtures("every_judge_counts")
@pytest.mark.parametrize(
    ("metadata", "kept"),
    [
        ({"confidence": 0.9}, True),
        ({"confidence": 0.6}, True),  # at the bar
        ({"confidence": 1}, True),
        ({"confidence": 0.59}, False),
        ({"confidence": None}, False),
        ({}, False),
        ({"confidence": "high"}, False),
    ],
)
def test_min_confidence_bar_on_each_kind_of_stored_confidence(metadata, kept):
    comparison = make_comparison()
    judge_vote(comparison, "a", metadata=metadata)
    rows, counts = export(comparison.project, judge_min_confidence=0.6)
    assert len(rows) == int(kept)
    assert counts["dropped_judge_votes_low_confidence"] == int(not kept)


@pytest.mark.usefixtures("every_judge_counts")
def test_consistent_only_drops_judge_votes_whose_two_orders_disagreed():
    project = ProjectFactory()
    cases = {
        "consistent": {"position_consistent": True},
        "inconsistent": {"position_consistent": False},
        "null": {"position_consistent": None},
        "missing": {},
    }
    made = {}
    for name, metadata in cases.items():
        made[name] = make_comparison(project=project)
        judge_vote(made[name], "a", metadata=metadata)
    human = make_comparison(project=project)
    vote(human, "a", metadata={"position_consistent": False})
    kept = {name: texts(c)[0] for name, c in made.items()} | {"human": texts(human)[0]}
    rows, counts = export(project, judge_consistent_only=True)
    assert {r["chosen"] for r in rows} == {
        kept[n] for n in ("consistent", "null", "missing", "human")
    }
    assert counts["dropped_judge_votes_inconsistent"] == 1
    assert counts["comparisons_without_votes"] == 1
    assert len(export(project)[0]) == 5


@pytest.mark.usefixtures("every_judge_counts")
def test_consistent_only_changes_the_majority():
    comparison = make_comparison()
    a, b = texts(comparison)
    for _ in range(2):
        vote(comparison, "a")
    for consistent in (False, False, True):
        judge_vote(comparison, "b", metadata={"position_consistent": consistent})
    assert verdict(comparison.project)[0] == [(b, a)]
    assert verdict(comparison.project, judge_consistent_only=True)[0] == [(a, b)]


@pytest.mark.usefixtures("every_judge_counts")
def test_judge_filters_and_weights_are_independent_of_chunking():
    project = ProjectFactory()
    for i in range(4):
        comparison = make_comparison(project=project)
        vote(comparison, "a")
        judge_vote(
            comparison,
            "b",
            preference_probability=0.2 + 0.1 * i,
            metadata={"confidence": 0.5 + 0.1 * i},
        )
    options = ExportOptions(
        judge_weight=1.5, judge_soft_labels=True, judge_min_confidence=0.65, include_margin=True
    )
    whole = list(export_rows(project=project, options=options))
    assert len(whole) == 4
    for chunk_size in (1, 3):
        assert list(export_rows(project=project, options=options, chunk_size=chunk_size)) == whole


def test_default_judge_options_export_what_no_options_export():
    comparison = make_comparison()
    vote(comparison, "a", strength=2)
    judge_vote(comparison, "b", preference_probability=0.3, metadata={"confidence": 0.1})
    judge_vote(comparison, "a", metadata={"position_consistent": False})
    explicit = {
        "judge_votes": "include",
        "judge_weight": 1.0,
        "judge_soft_labels": False,
        "judge_min_confidence": 0.0,
        "judge_consistent_only": False,
        "include_margin": True,
    }
    assert export(comparison.project, **explicit) == export(comparison.project, include_margin=True)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"judge_votes": "some"}, "judge_votes"),
        ({"judge_votes": "only", "rater_kinds": ("human",)}, "judge_votes"),
        ({"judge_votes": "exclude", "rater_kinds": ("judge",)}, "judge_votes"),
        ({"judge_weight": 0}, "judge_weight"),
        ({"judge_weight": -1.0}, "judge_weight"),
        ({"judge_weight": float("nan")}, "judge_weight"),
        ({"judge_weight": float("inf")}, "judge_weight"),
        ({"judge_min_confidence": 1.5}, "judge_min_confidence"),
        ({"judge_min_confidence": -0.1}, "judge_min_confidence"),
    ],
)
def test_bad_judge_options_name_the_field(options, field):
    with pytest.raises(ValidationError) as err:
        export_rows(project=None, options=ExportOptions(**options))
    assert err.value.field == field


@pytest.mark.usefixtures("every_judge_counts")
def test_snapshot_records_the_judge_options_and_says_why_it_is_empty():
    comparison = make_comparison()
    judge_vote(comparison, "a", metadata={"confidence": 0.2})
    options = ExportOptions(judge_min_confidence=0.5)
    with pytest.raises(ValidationError, match="1 judge votes low confidence dropped"):
        snapshot_export(project=comparison.project, options=options, save_to_disk=False)
    vote(comparison, "a")
    options = ExportOptions(
        judge_votes="include",
        judge_weight=0.5,
        judge_soft_labels=True,
        judge_min_confidence=0.5,
        judge_consistent_only=True,
    )
    snapshot = snapshot_export(project=comparison.project, options=options, save_to_disk=False)
    assert {k: v for k, v in snapshot.filters.items() if k.startswith("judge_")} == {
        "judge_votes": "include",
        "judge_admission": "admitted",
        "judge_include": [],
        "judge_gate": {"admission": "test: every judge counts"},
        "judge_weight": 0.5,
        "judge_soft_labels": True,
        "judge_min_confidence": 0.5,
        "judge_consistent_only": True,
    }
    assert snapshot.counts["dropped_judge_votes_low_confidence"] == 1
    assert snapshot.counts["dropped_judge_votes_inconsistent"] == 0


@pytest.mark.usefixtures("every_judge_counts")
def test_admin_form_offers_the_judge_options_and_records_them(
    admin_client_with_action, multi_turn_comparison
):
    client = admin_client_with_action
    project = multi_turn_comparison.project
    a, b = texts(multi_turn_comparison)
    for _ in range(2):
        judge_vote(multi_turn_comparison, "b")  # 2 to the human's 1 unless weighted down
    url = "/admin/annotate/project/"
    page = client.post(url, {"action": "export_snapshot", "_selected_action": [project.pk]})
    html = page.content.decode()
    assert "AI-judge votes" in html
    for name in ("judge_votes", "judge_weight", "judge_min_confidence"):
        assert f'name="{name}"' in html
    form = {
        "action": "export_snapshot",
        "_selected_action": [project.pk],
        "apply": "yes",
        "kind": "preference",
        "format": "standard",
        "rater_kinds": ["human", "judge"],
        "min_agreement": "0",
        "judge_votes": "include",
        "judge_weight": "0.25",
        "judge_min_confidence": "0",
        "judge_consistent_only": "on",
    }
    client.post(url, form, follow=True)
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.filters["judge_weight"] == 0.25 and snapshot.filters["judge_consistent_only"]
    rows = [
        json.loads(line) for line in (Path(snapshot.path) / "data.jsonl").read_text().splitlines()
    ]
    assert [r["chosen"] for r in rows] == [a]  # the human's 1 beats 2 x 0.25

    refused = client.post(
        url, {**form, "judge_weight": "0", "judge_votes": "only", "rater_kinds": ["human"]}
    )
    html = refused.content.decode()
    assert refused.status_code == 200 and "errorlist" in html
    assert "greater than 0" in html
    assert DatasetSnapshot.objects.count() == 1
    refused = client.post(url, {**form, "judge_votes": "only", "rater_kinds": ["human"]})
    assert "leaves no vote to export" in refused.content.decode()
    assert DatasetSnapshot.objects.count() == 1


@pytest.mark.usefixtures("every_judge_counts")
def test_api_export_takes_the_judge_options():
    from django.urls import reverse
    from rest_framework.test import APIClient

    from annotate.models import Role
    from tests.factories import MembershipFactory

    comparison = make_comparison()
    a, b = texts(comparison)
    vote(comparison, "a")
    judge_vote(comparison, "b", metadata={"position_consistent": False})
    judge_vote(comparison, "b", metadata={"position_consistent": True})
    admin = MembershipFactory(project=comparison.project, role=Role.ADMIN).user
    client = APIClient()
    client.force_login(admin)
    url = reverse("api:export", args=[comparison.project.pk])

    def post(body: dict):
        return client.post(url, json.dumps(body), content_type="application/json")

    made = post({"save_to_disk": False, "judge_consistent_only": True, "judge_weight": 0.9})
    assert made.status_code == 201, made.data
    assert made.data["filters"]["judge_consistent_only"] is True
    assert made.data["filters"]["judge_weight"] == 0.9
    assert made.data["counts"]["dropped_judge_votes_inconsistent"] == 1
    rows = (Path(DatasetSnapshot.objects.get().path) / "data.jsonl").read_text().splitlines()
    assert [json.loads(line)["chosen"] for line in rows] == [a]  # 1 against 0.9

    for body, field in [
        ({"judge_weight": 0}, "judge_weight"),
        ({"judge_votes": "sometimes"}, "judge_votes"),
        ({"judge_min_confidence": 2}, "judge_min_confidence"),
        ({"judge_votes": "only", "rater_kinds": ["human"]}, "judge_votes"),
    ]:
        refused = post({"save_to_disk": False, **body})
        assert (refused.status_code, refused.data["field"]) == (400, field), refused.data
    assert DatasetSnapshot.objects.count() == 1
