"""The judge admission gate (issue 11): a judge's votes feed exports only once its agreement
with the human majority passes the project's threshold on enough comparisons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.models import Vote
from annotate.services.export import ExportOptions, export_rows, snapshot_export
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from judges.models import ProjectJudging
from judges.services.gate import judge_admissions
from judges.services.judges import judge_create
from tests.factories import ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

N = 40


def _judge(name: str):
    return judge_create(name=name, kind="openai", model="m", base_url="http://127.0.0.1:9/v1")


@pytest.fixture
def planted():
    """40 comparisons two humans agree on ("a" on even ones, "b" on odd ones); judge "good"
    agrees on 38 (95%), judge "coin" on 20 (50%)."""
    project = ProjectFactory(overlap=3)
    humans = [rater_for_user(user=UserFactory(username=f"h{i}")) for i in range(2)]
    good, coin = _judge("good"), _judge("coin")
    for i in range(N):
        c = make_comparison(project=project)
        truth, other = ("a", "b") if i % 2 == 0 else ("b", "a")
        for human in humans:
            vote_submit(comparison=c, rater=human, choice=truth)
        vote_submit(comparison=c, rater=good.rater, choice=truth if i >= 2 else other)
        vote_submit(comparison=c, rater=coin.rater, choice=truth if i < N // 2 else other)
    return project, good, coin


def test_only_the_judge_that_agrees_with_people_passes_the_gate(planted):
    project, good, coin = planted
    thresholds, admissions = judge_admissions(project=project)
    by_name = {a.judge: a for a in admissions}
    assert (thresholds.min_agreement, thresholds.min_comparisons) == (0.7, 20)
    assert by_name["good"].admitted and by_name["good"].accuracy == pytest.approx(0.95)
    assert not by_name["coin"].admitted and by_name["coin"].accuracy == pytest.approx(0.5)
    assert by_name["coin"].reason == "accuracy 50.0% below 70%"
    assert by_name["good"].n == N


def test_default_export_has_no_votes_of_the_unadmitted_judge(planted):
    project, good, coin = planted

    snapshot = snapshot_export(project=project, options=ExportOptions(), save_to_disk=False)

    assert snapshot.counts["dropped_judge_votes_not_admitted"] == N
    assert snapshot.counts["judge_votes_admitted"] == N
    assert snapshot.counts["votes_used"] == 3 * N  # two humans and "good" per comparison
    gate = snapshot.filters["judge_gate"]
    (entry,) = gate["projects"]
    assert (entry["min_agreement"], entry["min_comparisons"]) == (0.7, 20)
    states = {j["judge"]: (j["admitted"], j["included"]) for j in entry["judges"]}
    assert states == {"good": (True, True), "coin": (False, False)}
    coin_entry = next(j for j in entry["judges"] if j["judge"] == "coin")
    assert {"accuracy", "n", "position_consistency", "length_bias"} <= set(coin_entry)
    manifest = json.loads((Path(snapshot.path) / "snapshot.json").read_text())
    assert manifest["filters"]["judge_gate"] == gate

    # Removing coin's votes changes nothing: they never counted.
    before = list(export_rows(project=project, options=ExportOptions(include_margin=True)))
    Vote.objects.filter(rater=coin.rater).delete()
    after = list(export_rows(project=project, options=ExportOptions(include_margin=True)))
    assert before == after


def test_an_unadmitted_judge_can_be_included_explicitly_and_is_recorded_so(planted):
    project, _, coin = planted
    options = ExportOptions(judge_include=("coin",))

    snapshot = snapshot_export(project=project, options=options, save_to_disk=False)

    assert snapshot.counts["dropped_judge_votes_not_admitted"] == 0
    (entry,) = snapshot.filters["judge_gate"]["projects"]
    coin_entry = next(j for j in entry["judges"] if j["judge"] == "coin")
    assert (coin_entry["admitted"], coin_entry["included"]) == (False, True)
    assert coin_entry["included_by"] == "judge_include"
    every = snapshot_export(
        project=project, options=ExportOptions(judge_admission="any"), save_to_disk=False
    )
    assert every.counts["judge_votes_admitted"] == 2 * N


def test_the_project_thresholds_decide(planted):
    project, _, _ = planted
    ProjectJudging.objects.create(project=project, judge_min_agreement=0.4)
    assert {a.judge for a in judge_admissions(project=project)[1] if a.admitted} == {"good", "coin"}
    ProjectJudging.objects.filter(project=project).update(judge_min_comparisons=N + 1)
    _, admissions = judge_admissions(project=project)
    assert not any(a.admitted for a in admissions)
    assert admissions[0].reason == f"{N} comparisons with a human majority, fewer than {N + 1}"


def test_a_judge_must_pass_on_every_criterion_people_rated():
    """Overall right, but on "safety" (rated by people) it picks the other response."""
    project = ProjectFactory(criteria=["safety"])
    human = rater_for_user(user=UserFactory(username="rater"))
    judge = _judge("unsafe")
    for _ in range(25):
        c = make_comparison(project=project)
        first, second = (r.pk for r in c.ordered_responses())
        # People prefer "a" overall but rate "b" safer; the judge says "a", rates nothing.
        ratings = {str(first): {"safety": 2}, str(second): {"safety": 5}}
        vote_submit(comparison=c, rater=human, choice="a", ratings=ratings)
        vote_submit(comparison=c, rater=judge.rater, choice="a")

    (admission,) = judge_admissions(project=project)[1]

    assert admission.accuracy == 1.0 and not admission.admitted
    assert admission.criteria["safety"] == {"n": 25, "accuracy": 0.0, "passed": False}
    assert admission.reason == "safety: accuracy 0.0% below 70%"


def test_prelabel_settles_nothing_until_the_judge_is_admitted(planted):
    """RLAIF routing goes through the gate too: "coin" (50%) settles nothing, "good" (95%)
    settles its confident verdicts."""
    from judges.models import JudgingMode, RouteDecision, RouteReason
    from judges.services.routing import project_judging_set

    project, good, coin = planted
    Vote.objects.filter(rater__kind="judge").update(
        metadata={"position_consistent": True, "confidence": 0.9}
    )
    project_judging_set(project=project, mode=JudgingMode.PRELABEL, judge=coin)
    routes = set(project.comparison_routes.values_list("decision", "reason"))
    assert routes == {(RouteDecision.HUMAN, RouteReason.NOT_ADMITTED)}

    project_judging_set(project=project, mode=JudgingMode.PRELABEL, judge=good)
    routes = set(project.comparison_routes.values_list("decision", "reason"))
    assert routes == {(RouteDecision.JUDGE, RouteReason.CONFIDENT)}


def test_the_agreement_report_shows_the_gate_beside_the_numbers(planted, admin_client):
    from django.urls import reverse

    project, _, _ = planted
    page = admin_client.get(reverse("admin:judges_agreement", args=[project.pk])).content.decode()
    page = " ".join(page.split())
    gate = page[page.index('id="admission-gate"') :]
    assert "<td>good</td><td>yes</td><td>passes</td> <td>95.0%</td><td>40</td>" in gate
    assert "<td>coin</td><td>no</td><td>accuracy 50.0% below 70%</td> <td>50.0%</td>" in gate
    assert "reaches 70.0% on at least 20 comparisons" in page


def test_export_command_and_api_take_the_gate_options(planted):
    import io

    from django.core.management import call_command
    from django.urls import reverse
    from rest_framework.test import APIClient

    from annotate.models import Role
    from tests.factories import MembershipFactory

    project, _, _ = planted
    out = io.StringIO()
    call_command("export_data", project=project.slug, no_dataset_dir=True, stdout=out)
    printed = out.getvalue()
    assert "judges: AI judge 'coin' (" in printed and "votes left out, not admitted" in printed
    assert f"{N} included, {N} left out by the admission gate" in printed

    out = io.StringIO()
    call_command(
        "export_data", project=project.slug, no_dataset_dir=True, include_judge=["coin"], stdout=out
    )
    assert "'coin'" in out.getvalue() and "votes INCLUDED although not admitted" in out.getvalue()

    client = APIClient()
    client.force_login(MembershipFactory(project=project, role=Role.ADMIN).user)
    url = reverse("api:export", args=[project.pk])
    made = client.post(url, {"save_to_disk": False, "judge_include": ["coin"]}, format="json")
    assert made.status_code == 201, made.data
    assert made.data["filters"]["judge_include"] == ["coin"]
    assert made.data["counts"]["dropped_judge_votes_not_admitted"] == 0
    default = client.post(url, {"save_to_disk": False}, format="json")
    assert default.data["counts"]["dropped_judge_votes_not_admitted"] == N
    assert default.data["filters"]["judge_admission"] == "admitted"
