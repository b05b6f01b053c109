"""What raters expect of the workbench beyond the defects: drafts, required strength, flags."""

from __future__ import annotations

import pytest

from annotate.models import Assignment, AssignmentStatus, Vote
from tests.browser.workbench import make_project, open_project, rid_of, until, wait_panel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_draft_survives_a_reload_until_it_is_submitted(page, live_server):
    project, user, (first, second) = make_project(items=2, criteria=["helpful"])
    open_project(page, live_server, project, user)
    left = rid_of(page, "A")
    page.keyboard.press("2")
    page.keyboard.press("f")
    page.keyboard.press("4")
    page.keyboard.press("r")
    page.keyboard.type("half written")
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    page.keyboard.press("Control+a")
    page.keyboard.type("My rewrite.")
    page.reload()
    wait_panel(page, first)
    assert page.is_checked('#panel input[name="choice"][value="b"]')
    assert page.is_checked(f'#panel input[name="rating-{left}-helpful"][value="4"]')
    assert page.input_value('#panel textarea[name="rationale"]') == "half written"
    assert page.input_value('#panel textarea[name="edited_text"]') == "My rewrite."
    assert page.inner_text("#panel [data-edit-label]") == "B"
    page.click("#submit-vote")
    wait_panel(page, second)
    until(page, lambda: Vote.objects.filter(comparison=first).exists())
    vote = Vote.objects.get(comparison=first)
    assert (vote.rationale, vote.edited_response.text) == ("half written", "My rewrite.")
    assert vote.ratings == {str(left): {"helpful": 4}}
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('ps-draft:'))") == []


def test_strength_is_required_for_a_or_b_when_the_project_says_so(page, live_server):
    project, user, (first, second) = make_project(items=2, strength_required=True)
    open_project(page, live_server, project, user)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel .error")
    assert "how much better" in page.inner_text("#panel .error")
    assert not Vote.objects.exists()
    page.keyboard.press("x")
    page.keyboard.press("Enter")
    until(page, lambda: Vote.objects.filter(comparison=first).exists())
    assert Vote.objects.get().strength == 2
    # Keys on an item whose vote is still on its way are refused with a notice, by design: the
    # tie is for the next item, so wait until it is the one on screen.
    wait_panel(page, second)
    page.keyboard.press("3")  # a tie needs no strength
    page.keyboard.press("Enter")
    until(page, lambda: Vote.objects.count() == 2)


def test_an_item_can_be_flagged_with_a_comment_without_skipping_it(page, live_server):
    project, user, (first, second) = make_project(items=2)
    open_project(page, live_server, project, user)
    page.keyboard.press("l")
    page.select_option("#panel #flag-box select", "unsafe")
    page.fill('#panel input[name="flag_note"]', "tells how to pick locks")
    page.keyboard.press("Escape")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_panel(page, second)
    until(page, lambda: Vote.objects.filter(comparison=first).exists())
    assignment = Assignment.objects.get(comparison=first)
    assert (assignment.status, assignment.flag, assignment.flag_note) == (
        AssignmentStatus.DONE,
        "unsafe",
        "tells how to pick locks",
    )
