"""Rater quality on a synthetic project with planted raters: exactly the planted ones are flagged,
on the page, the API, and manage.py rater_quality."""

from __future__ import annotations

import random

import pytest

from annotate.models import Comparison, ComparisonItem, Prompt, Rater, RaterKind, Response, Vote
from annotate.stats.raters import rater_quality
from annotate.stats.tables import pairwise_table
from tests.factories import ProjectFactory, UserFactory

PLANTED = {"left", "longer", "random"}
HONEST = {"honest-1", "honest-2", "honest-3"}


def build_planted_project(items: int = 150, seed: int = 7):
    """Every rater votes on every pair. The truth, the longer response and the order shown are
    independent coin flips, so only the planted raters follow position or length."""
    rng = random.Random(seed)
    project = ProjectFactory(criteria=[])
    raters = {}
    for name in sorted(PLANTED | HONEST):
        user = UserFactory(username=f"rq-{name}")
        raters[name] = Rater.objects.create(kind=RaterKind.HUMAN, name=name, user=user)
    votes = []
    truth = {}
    for i in range(items):
        prompt = Prompt.objects.create(
            project=project, messages=[{"role": "user", "content": f"q{i}"}]
        )
        long_first = rng.random() < 0.5
        texts = ["x" * 400, "y" * 40] if long_first else ["x" * 40, "y" * 400]
        responses = [Response.objects.create(prompt=prompt, text=t) for t in texts]
        ids = [r.pk for r in responses]
        comparison = Comparison.objects.create(
            project=project, prompt=prompt, content_hash=Comparison.hash_for(prompt.pk, ids)
        )
        ComparisonItem.objects.bulk_create(
            ComparisonItem(comparison=comparison, response=r, position=p)
            for p, r in enumerate(responses)
        )
        truth[comparison.pk] = rng.choice("ab")
        longer = "a" if long_first else "b"
        for name, rater in raters.items():
            order = ids if rng.random() < 0.5 else ids[::-1]
            shown_first = "a" if order[0] == ids[0] else "b"
            if name == "left":
                choice = shown_first
            elif name == "longer":
                choice = longer
            elif name == "random":
                choice = rng.choice(["a", "b", "tie"])
            else:
                right = truth[comparison.pk]
                choice = (
                    right if rng.random() < 0.85 else rng.choice(["tie", "ab".replace(right, "")])
                )
            votes.append(
                Vote(
                    comparison=comparison,
                    rater=rater,
                    choice=choice,
                    display_order=order,
                    time_spent_ms=rng.randint(2000, 30000),
                )
            )
    Vote.objects.bulk_create(votes)
    return project, raters, truth


@pytest.fixture
def planted(db):
    return build_planted_project()


def test_exactly_the_planted_raters_are_flagged(planted):
    project, raters, _ = planted
    table = pairwise_table(project_id=project.pk)
    names = {r.pk: name for name, r in raters.items()}
    result = {names[q.rater_id]: q for q in rater_quality(table)}
    assert {name for name, q in result.items() if q.flagged} == PLANTED
    assert any("position bias" in f for f in result["left"].flags)
    assert any("length bias" in f for f in result["longer"].flags)
    assert any("agreement" in f for f in result["random"].flags)
    assert result["left"].position.share == 1.0
    assert result["longer"].length.share == 1.0
    for name in HONEST:
        assert 0.3 < result[name].position.share < 0.7
        assert result[name].median_time_ms is not None


def _staff_client(client):
    user = UserFactory(username="rq-staff", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_the_admin_page_flags_exactly_the_planted_raters_and_says_why(client, planted):
    from django.urls import reverse

    project, _, _ = planted
    response = _staff_client(client).get(reverse("admin:judges_rater_quality", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    flagged = {name for name in PLANTED | HONEST if f"<strong>⚑ {name}</strong>" in html}
    assert flagged == PLANTED
    assert "position bias: picks the first-shown (left) response in 100%" in html
    assert "length bias: picks the longer response in 100%" in html
    assert "Krippendorff" in html and "Fleiss" in html


def test_the_project_admin_links_to_the_page(client, planted):
    from django.urls import reverse

    project, _, _ = planted
    response = _staff_client(client).get(reverse("admin:annotate_project_changelist"))
    assert reverse("admin:judges_rater_quality", args=[project.pk]) in response.content.decode()


def test_gold_accuracy_is_measured_against_the_expected_answers(planted):
    from judges.quality import gold_answer_set, rater_quality_report

    project, raters, truth = planted
    for cid in list(truth)[:60]:
        gold_answer_set(comparison=Comparison.objects.get(pk=cid), choice=truth[cid])
    report = rater_quality_report(project=project)
    by_name = {row.name: row.quality for row in report.raters}
    assert report.gold_items == 60
    for name in HONEST:
        assert by_name[name].gold.n == 60 and by_name[name].gold.share > 0.7
    assert by_name["random"].gold.share < 0.5
    assert any("gold accuracy" in f for f in by_name["random"].flags)
    assert {row.name for row in report.flagged} == PLANTED


def test_manage_py_rater_quality_prints_the_table(planted):
    from io import StringIO

    from django.core.management import call_command

    project, _, _ = planted
    out = StringIO()
    call_command("rater_quality", "--project", project.slug, stdout=out)
    text = out.getvalue()
    lines = {line.split()[0]: line for line in text.splitlines() if line.split()}
    for name in PLANTED:
        assert "bias" in lines[name] or "agreement" in lines[name]
    for name in HONEST:
        assert lines[name].rstrip().endswith("-")
    assert "alpha (nominal)" in text
