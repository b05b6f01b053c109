"""axe-core in a real browser: no serious or critical accessibility violations on any page.

axe-core comes from npm (package.json at the repo root, `npm ci`); without node_modules the
tests skip and say so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from annotate.models import Assignment, AssignmentStatus, Flag, Role
from annotate.services.queue import assignment_next
from annotate.services.raters import rater_for_user
from tests.browser.reviewing import new_project, sign_in, split_pair, split_ranking
from tests.factories import MembershipFactory, UserFactory, make_comparison

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not AXE.exists(), reason=f"{AXE} is missing: run `npm ci` at the repository root"
    ),
]


def violations(page) -> list[dict]:
    """axe's serious and critical violations on the page as it is now, one line per node."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(" ") + " :: " + n.failureSummary)}))"""
    )
    return [v for v in found if v["impact"] in BLOCKING]


def assert_clean(page) -> None:
    found = violations(page)
    assert not found, "\n".join(
        f"{v['impact']} {v['id']} ({v['help']}):\n    " + "\n    ".join(v["nodes"]) for v in found
    )


@pytest.fixture
def world(live_server):
    """A project with pairwise and ranking items, split votes, a flag; an annotator with a
    queue and a history; a reviewer."""
    project = new_project(overlap=3, guidelines="Prefer **helpful** answers.")
    pair = split_pair(project)
    ranked, _ = split_ranking(project)
    annotator = UserFactory(username="annie")
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    Assignment.objects.create(
        comparison=pair,
        rater=rater_for_user(user=UserFactory(username="flagger")),
        status=AssignmentStatus.SKIPPED,
        flag=Flag.UNCLEAR,
        skip_reason="ambiguous question",
    )
    return {
        "project": project,
        "pair": pair,
        "ranked": ranked,
        "annotator": annotator,
        "reviewer": reviewer,
        "base": live_server.url,
    }


def _goto(page, world, user, path: str) -> None:
    if user is not None:
        sign_in(page, world[user], world["base"])
    page.goto(path)
    page.wait_for_load_state("networkidle")


def test_axe_reports_a_planted_violation(page, world):
    """The check itself works: an unlabelled image and button are caught."""
    _goto(page, world, None, "/accounts/login/")
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<img src=\"data:,\"><button></button>')"
    )
    assert {"image-alt", "button-name"} <= {v["id"] for v in violations(page)}


def test_login_page(page, world):
    _goto(page, world, None, "/accounts/login/")
    assert_clean(page)


def test_home_page(page, world):
    _goto(page, world, "reviewer", "/")
    assert_clean(page)


def test_error_pages(page, world):
    _goto(page, world, "annotator", f"/p/{world['project'].slug}/review/")
    assert page.locator("h1").inner_text() == "Not allowed"
    assert_clean(page)
    page.goto("/p/no-such-project/review/")
    assert_clean(page)


def test_compare_page_pairwise(page, world):
    project = world["project"]
    rater = rater_for_user(user=world["annotator"])
    fresh = make_comparison(project=project)
    assert assignment_next(project=project, rater=rater).comparison == world["pair"]
    Assignment.objects.filter(rater=rater).delete()
    Assignment.objects.create(comparison=fresh, rater=rater)
    _goto(page, world, "annotator", f"/p/{project.slug}/")
    assert page.get_attribute("#panel", "data-mode") == "pairwise"
    assert_clean(page)
    page.keyboard.press("?")
    assert_clean(page)


def test_compare_page_ranking(page, world):
    project = world["project"]
    rater = rater_for_user(user=world["annotator"])
    Assignment.objects.create(comparison=make_comparison(project=project, n=3), rater=rater)
    _goto(page, world, "annotator", f"/p/{project.slug}/")
    assert page.get_attribute("#panel", "data-mode") == "ranking"
    assert_clean(page)


def test_history_page(page, world):
    project = world["project"]
    rater = rater_for_user(user=world["annotator"])
    Assignment.objects.create(
        comparison=world["pair"], rater=rater, status=AssignmentStatus.SKIPPED, flag=Flag.BROKEN
    )
    _goto(page, world, "annotator", f"/p/{project.slug}/history/")
    assert_clean(page)


@pytest.mark.parametrize("show", ["disagreements", "all", "flagged"])
def test_review_list(page, world, show):
    _goto(page, world, "reviewer", f"/p/{world['project'].slug}/review/?show={show}")
    assert_clean(page)


@pytest.mark.parametrize("which", ["pair", "ranked"])
def test_review_detail(page, world, which):
    _goto(page, world, "reviewer", f"/p/{world['project'].slug}/review/{world[which].pk}/")
    assert_clean(page)
    page.keyboard.press("?")
    assert_clean(page)
