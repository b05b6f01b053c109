"""The next item shows at once while the vote is saved behind it (issue 10, speed).

A failed save is never silent: the rater is told, the item comes back with what they entered,
and the vote can be sent again; fast consecutive votes end with exactly the rater's votes.
"""

from __future__ import annotations

import pytest

from annotate.models import Vote
from tests.browser.workbench import (
    canonical,
    key_for,
    make_project,
    open_project,
    panel_count,
    panel_id,
    rid_of,
    until,
    wait_panel,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _choices(user) -> dict[int, str]:
    return dict(Vote.objects.filter(rater__user=user).values_list("comparison_id", "choice"))


def _ready(page, count: int) -> None:
    """Wait until `count` panels are prefetched ahead of the one on screen."""
    page.wait_for_function(
        "n => (document.body.dataset.ahead || '').split(',').filter(Boolean).length >= n", arg=count
    )


@pytest.mark.parametrize("failure", [500, 409, "offline"])
def test_a_failed_save_is_shown_the_item_comes_back_and_the_vote_can_be_resent(
    page, live_server, failure
):
    project, user, (first, second, *_) = make_project(items=4)
    open_project(page, live_server, project, user)
    _ready(page, 2)
    failures = []

    def fail_once(route):
        if route.request.method == "POST" and not failures:
            failures.append(route.request.post_data)
            if failure == "offline":
                route.abort("internetdisconnected")
            else:
                route.fulfill(status=failure, body="<h1>Server error</h1>")
        else:
            route.continue_()

    page.route("**/vote/", fail_once)
    b_first = canonical(first)[1]
    page.keyboard.press(key_for(first, user, b_first))
    page.keyboard.press("x")
    page.keyboard.press("Enter")
    # Shown at once, then the failure: a notice that stays and the item back with the input.
    page.wait_for_selector("#save-problems:not([hidden]) button[data-action=resend]")
    notice = page.inner_text("#save-problems")
    assert "not saved" in notice and f"item {first.pk}" in notice
    assert (str(failure) if failure != "offline" else "connection failed") in notice
    wait_panel(page, first)
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    assert not Vote.objects.exists()
    b_label = "A" if rid_of(page, "A") == b_first else "B"
    choice = {"A": "a", "B": "b"}[b_label]
    assert page.is_checked(f'#panel input[name="choice"][value="{choice}"]')
    assert page.is_checked('#panel input[name="strength"][value="2"]')
    assert panel_count(page) == 1

    page.click("#save-problems button[data-action=resend]")
    until(page, lambda: Vote.objects.filter(comparison=first).exists())
    stored = Vote.objects.get(comparison=first)
    assert (stored.choice, stored.strength) == ("b", 2)
    page.wait_for_selector("#save-problems", state="hidden")
    wait_panel(page, second)
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    assert _choices(user) == {first.pk: "b"}
    assert panel_count(page) == 1


def test_an_undo_sent_behind_a_failed_vote_is_not_sent(page, live_server):
    """u right after a vote that then fails: nothing older is undone, the item is back."""
    project, user, (first, second, _) = make_project(items=3)
    open_project(page, live_server, project, user)
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    until(page, lambda: Vote.objects.filter(comparison=first).exists())
    _ready(page, 1)

    def fail(route):
        page.wait_for_timeout(300)  # the undo is queued behind the vote meanwhile
        route.fulfill(status=500, body="")

    page.route("**/vote/", fail)
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    page.keyboard.press("u")
    page.wait_for_selector("#save-problems:not([hidden])")
    wait_panel(page, second)
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    assert _choices(user) == {first.pk: "tie"}  # the first vote is untouched
    assert page.is_checked('#panel input[name="choice"][value="both_bad"]')


def test_the_next_two_items_show_before_the_first_vote_is_answered(page, live_server):
    project, user, (first, second, third, _) = make_project(items=4)
    open_project(page, live_server, project, user)
    _ready(page, 2)
    held = []

    def slow(route):
        held.append(route.request.headers.get("x-ps-shown"))
        page.wait_for_timeout(800)
        route.continue_()

    page.route("**/vote/", slow)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_panel(page, second)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_panel(page, third)
    assert len(held) <= 1, "the second item waited for the first vote"
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    until(page, lambda: len(_choices(user)) == 2)
    assert held == [str(second.pk), str(third.pk)]  # both shown from panels prefetched ahead
    assert panel_count(page) == 1


def test_fast_consecutive_votes_store_exactly_what_the_rater_chose(page, live_server):
    project, user, items = make_project(items=10)
    open_project(page, live_server, project, user)
    wanted = {}
    for n in range(len(items)):
        page.wait_for_function(
            "seen => { const p = document.querySelectorAll('#panel');"
            " return p.length === 1 && p[0].dataset.comparison && !seen.includes(p[0].dataset.comparison); }",
            arg=[str(c) for c in wanted],
        )
        cid = int(panel_id(page))
        label = "AB"[n % 2]
        rid = rid_of(page, label)
        wanted[cid] = "a" if canonical(next(c for c in items if c.pk == cid))[0] == rid else "b"
        page.keyboard.press("1" if label == "A" else "2")
        page.keyboard.press("Enter")
        assert panel_count(page) == 1
    page.wait_for_selector("text=All done")
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    until(page, lambda: _choices(user) == wanted, message=f"{_choices(user)} != {wanted}")
    assert panel_count(page) == 1
