"""Issue 10, data-loss defects: each test reproduces one as a rater would meet it in Chromium."""

from __future__ import annotations

import pytest

from annotate.models import Assignment, AssignmentStatus, Vote
from tests.browser.workbench import (
    canonical,
    key_for,
    make_project,
    open_project,
    panel_count,
    rank_ids,
    rid_of,
    until,
    wait_panel,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _vote_of(comparison):
    return Vote.objects.filter(comparison=comparison).first()


def test_after_a_prefetched_vote_one_panel_remains_and_votes_land_where_cast(page, live_server):
    project, user, (first, second, third) = make_project(items=3)
    open_project(page, live_server, project, user)
    page.wait_for_load_state("networkidle")  # the next panel is prefetched
    a_first = canonical(first)[0]
    page.keyboard.press(key_for(first, user, a_first))
    page.keyboard.press("Enter")
    wait_panel(page, second)
    until(page, lambda: _vote_of(first) is not None)
    until(
        page, lambda: panel_count(page) == 1, timeout=3, message="a stale copy of the panel stays"
    )
    assert page.inner_text("#submit-vote").startswith("Submit")

    b_second = canonical(second)[1]
    page.keyboard.press(key_for(second, user, b_second))
    page.keyboard.press("Enter")
    wait_panel(page, third)
    until(page, lambda: _vote_of(second) is not None)
    assert _vote_of(first).choice == "a"  # untouched by the second vote
    assert _vote_of(second).choice == "b"
    assert panel_count(page) == 1


def test_every_ranking_on_a_page_is_accepted_in_the_raters_order(page, live_server):
    project, user, items = make_project(items=3, n=3)
    open_project(page, live_server, project, user)
    for n, comparison in enumerate(items[:2]):
        wait_panel(page, comparison)
        page.wait_for_function("document.activeElement.classList.contains('rank-item')")
        shown = rank_ids(page)
        page.keyboard.press("Shift+ArrowDown")  # the first response goes one down
        page.keyboard.press("Enter")
        until(
            page,
            lambda c=comparison: _vote_of(c) is not None,
            timeout=5,
            message=f"ranking {n + 1} was not stored: {page.inner_text('#panel')[:200]}",
        )
        assert _vote_of(comparison).ranking == [[shown[1]], [shown[0]], [shown[2]]]
    wait_panel(page, items[2])
    assert panel_count(page) == 1


def test_enter_on_a_link_or_button_does_what_that_control_does(page, live_server):
    project, user, (first, second, _) = make_project(items=3)
    open_project(page, live_server, project, user)
    # Enter with nothing chosen: a message a rater understands.
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel .error")
    message = page.inner_text("#panel .error")
    assert "[" not in message and "choice:" not in message, message

    # Enter on Undo, with a choice made: undo runs, no vote is cast.
    page.keyboard.press("1")
    page.focus("#undo-form button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel .error:has-text('Nothing to undo')")
    assert not Vote.objects.exists()

    # Enter on the Skip button keeps the reason.
    page.keyboard.press("s")
    page.keyboard.type("not my field")
    page.focus("#skip-form button")
    page.keyboard.press("Enter")
    until(page, lambda: Assignment.objects.get(comparison=first).status == AssignmentStatus.SKIPPED)
    assert Assignment.objects.get(comparison=first).skip_reason == "not my field"
    assert not Vote.objects.exists()

    # Enter on the History link opens the history.
    wait_panel(page, second)
    page.focus("a[href$='/history/']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/history/")
    assert not Vote.objects.exists()


def _pick_rating(page, rid: int, criterion: str, value: int) -> None:
    """Pick a rating with the mouse, leaving the control focused, as a rater's click does."""
    select = page.query_selector(f'select[name="rating-{rid}-{criterion}"]')
    if select:  # the 1-5 menu of before issue 10
        select.focus()
        select.select_option(str(value))
    else:
        page.click(
            f'#panel input[name="rating-{rid}-{criterion}"][value="{value}"] + *, '
            f'#panel label:has(> input[name="rating-{rid}-{criterion}"][value="{value}"])'
        )


def test_digits_choose_even_with_a_rating_focused_and_ratings_have_shortcuts(page, live_server):
    project, user, (first, second, _) = make_project(items=3, criteria=["helpful", "honest"])
    open_project(page, live_server, project, user)
    left, right = rid_of(page, "A"), rid_of(page, "B")
    _pick_rating(page, left, "helpful", 4)
    page.keyboard.press("1")  # meaning "A better", whatever has the focus
    page.click("#submit-vote")
    until(page, lambda: _vote_of(first) is not None)
    vote = _vote_of(first)
    assert vote.ratings == {str(left): {"helpful": 4}}
    assert vote.choice == ("a" if left == canonical(first)[0] else "b")

    # Keyboard: f focuses a response's ratings, 1-5 rate criterion after criterion.
    wait_panel(page, second)
    left, right = rid_of(page, "A"), rid_of(page, "B")
    group = page.get_by_role("group", name="helpful, Response B")
    assert group.count() == 1  # every menu says whose it is
    for key in ["f", "5", "4", "3", "2", "2"]:  # A: 5 4; B: 3 2; the last 2 chooses B
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    until(page, lambda: _vote_of(second) is not None)
    vote = _vote_of(second)
    assert vote.ratings == {
        str(left): {"helpful": 5, "honest": 4},
        str(right): {"helpful": 3, "honest": 2},
    }
    assert vote.choice == ("b" if right == canonical(second)[1] else "a")


def test_undo_takes_back_the_last_action_and_skips_can_be_reopened(page, live_server):
    project, user, (first, second, third) = make_project(items=3)
    open_project(page, live_server, project, user)
    page.keyboard.press("1")
    page.keyboard.press("r")
    page.keyboard.type("clearer answer")
    page.keyboard.press("Control+Enter")
    wait_panel(page, second)
    page.keyboard.press("s")
    page.keyboard.press("Enter")
    wait_panel(page, third)
    until(page, lambda: Assignment.objects.get(comparison=second).status == "skipped")

    page.keyboard.press("u")  # undoes the skip, not the vote before it
    wait_panel(page, second)
    until(page, lambda: Assignment.objects.get(comparison=second).status == "assigned")
    assert _vote_of(first) is not None

    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_panel(page, third)
    until(page, lambda: _vote_of(second) is not None)
    page.keyboard.press("u")
    page.keyboard.press("u")  # back to the first item: its rationale comes back with it
    wait_panel(page, first)
    until(page, lambda: not Vote.objects.exists())
    assert page.input_value('#panel textarea[name="rationale"]') == "clearer answer"

    # A skipped item can be reopened from the history.
    page.keyboard.press("s")
    page.keyboard.press("Enter")
    until(page, lambda: Assignment.objects.get(comparison=first).status == "skipped")
    page.goto(f"/p/{project.slug}/history/")
    page.click(f"form[action$='/c/{first.pk}/reopen/'] button")
    wait_panel(page, first)
    assert Assignment.objects.get(comparison=first).status == AssignmentStatus.ASSIGNED


def test_an_edit_keeps_its_source_and_its_diff_with_line_breaks(page, live_server):
    project, user, (first, second, _) = make_project(items=3)
    open_project(page, live_server, project, user)
    right = rid_of(page, "B")
    page.keyboard.press("2")
    page.keyboard.press("e")
    page.keyboard.press("Control+a")
    page.keyboard.type("First line.")
    page.keyboard.press("Enter")
    page.keyboard.type("Second line.")
    page.wait_for_selector("#edit-diff ins")
    assert "\n" in page.inner_text("#edit-diff")
    page.keyboard.press("Escape")
    page.keyboard.press("1")  # the rater changes their mind about the choice, not the edit
    page.keyboard.press("Enter")
    wait_panel(page, second)
    until(page, lambda: _vote_of(first) is not None)
    edited = _vote_of(first).edited_response
    assert edited.text == "First line.\nSecond line."
    assert edited.edited_from_id == right

    page.keyboard.press("b")
    wait_panel(page, first)
    assert page.is_visible("#edit-diff ins")
    assert "\n" in page.inner_text("#edit-diff")


def test_votes_sent_back_to_back_never_reload_the_page(page, live_server):
    project, user, items = make_project(items=8)
    open_project(page, live_server, project, user)
    page.evaluate("window.__sameDocument = true")
    for comparison in items:
        wait_panel(page, comparison)
        page.keyboard.press("3")
        page.keyboard.press("Enter")
    page.wait_for_selector("text=All done")
    assert page.evaluate("window.__sameDocument === true"), "a vote reloaded the page"
    until(page, lambda: Vote.objects.count() == len(items))
    assert set(Vote.objects.values_list("choice", flat=True)) == {"tie"}


def test_overlays_are_modal_dialogs_and_the_page_has_a_heading_and_focus_ring(page, live_server):
    project, user, (first, *_) = make_project(items=2)
    open_project(page, live_server, project, user)
    assert page.locator("h1").count() == 1
    page.focus("[data-action=help]")
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#help")
    assert dialog.evaluate("d => d.open && d.matches(':modal')")
    page.keyboard.press("1")  # must not choose A behind the dialog
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('help').contains(document.activeElement)")
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    assert page.evaluate("document.activeElement.dataset.action") == "help"
    assert page.locator('#panel input[name="choice"]:checked').count() == 0

    page.keyboard.press("Tab")
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] != "none" and outline[1] >= 2, outline


def _box(page, selector):
    return page.locator(selector).first.bounding_box()


def test_small_and_wide_screens(browser, live_server):
    project, user, items = make_project(items=2)
    ranked = make_project(items=1, n=3)
    phone = browser.new_context(
        base_url=live_server.url, viewport={"width": 375, "height": 740}, has_touch=True
    )
    page = phone.new_page()
    open_project(page, live_server, project, user)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    logout = _box(page, ".logout button")
    assert logout["x"] + logout["width"] <= 375
    for label in page.locator("#panel .choices label").all():
        assert label.bounding_box()["height"] >= 44
    submit = _box(page, "#submit-vote")
    assert submit["y"] + submit["height"] <= 740, "Submit is below the fold"

    # Touch drag reorders a ranking.
    r_project, r_user, (r_item,) = ranked
    open_project(page, live_server, r_project, r_user)
    ids = rank_ids(page)
    page.evaluate("document.getElementById('ranking').scrollIntoView()")
    handle = page.locator("#panel .rank-item").nth(2).locator(".drag-handle")
    start = handle.bounding_box()
    target = _box(page, "#panel .rank-item")
    cdp = phone.new_cdp_session(page)
    x, y = start["x"] + 10, start["y"] + start["height"] / 2

    def touch(kind, ty):
        points = [] if kind == "touchEnd" else [{"x": x, "y": ty}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", y)
    for step in range(1, 9):
        touch("touchMove", y + (target["y"] + 5 - y) * step / 8)
    touch("touchEnd", target["y"] + 5)
    order = rank_ids(page)
    assert order == [ids[2], ids[0], ids[1]]
    phone.close()

    wide = browser.new_context(base_url=live_server.url, viewport={"width": 1920, "height": 1080})
    page = wide.new_page()
    open_project(page, live_server, project, user)
    assert _box(page, "#panel .responses")["width"] >= 1800
    wide.close()
