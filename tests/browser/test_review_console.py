"""The reviewer console in a real browser: drag-to-adjudicate with mouse, touch and keyboard,
every step checked against the Adjudication row; the n and ? keys; the form without JavaScript."""

from __future__ import annotations

import pytest

from annotate.models import Adjudication
from tests.browser.reviewing import new_project, reviewer_of, sign_in, split_pair, split_ranking

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open(page, live_server, comparison, user) -> None:
    sign_in(page, user, live_server.url)
    page.goto(f"/p/{comparison.project.slug}/review/{comparison.pk}/")
    page.wait_for_selector("#verdict-ranking[data-ready], #verdict-form")


def _saved(page, verdict: str):
    """Wait until the page says `verdict` is saved and no save is in flight."""
    page.wait_for_function(
        "v => document.querySelector('#verdict-status').dataset.verdict === v"
        " && !document.querySelector('.htmx-request')",
        arg=verdict,
    )


def _ranking(comparison):
    return Adjudication.objects.get(comparison=comparison).ranking


def _order(page) -> list[str]:
    return page.eval_on_selector_all(
        "#verdict-ranking .verdict-item", "els => els.map(e => e.dataset.label)"
    )


def _center(page, selector):
    page.locator("#verdict-ranking").scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box


def test_drag_to_adjudicate_with_mouse_keyboard_and_touch(page, live_server):
    project = new_project()
    comparison, (a, b, c) = split_ranking(project)
    _open(page, live_server, comparison, reviewer_of(project))
    assert _order(page) == ["A", "B", "C"]
    assert not Adjudication.objects.exists()
    # Without JS the ranks are <select>s; with it, handles and buttons instead.
    assert page.locator(".rank-field").first.is_hidden()
    assert page.locator(".moves").first.is_visible()

    # Mouse: drag C by its handle above A.
    x, y, _ = _center(page, f'.verdict-item[data-rid="{c}"] .handle')
    _, top_y, top = _center(page, f'.verdict-item[data-rid="{a}"]')
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, top["y"] + 4, steps=8)
    page.mouse.up()
    _saved(page, "C > A > B")
    assert _order(page) == ["C", "A", "B"]
    assert _ranking(comparison) == [[c], [a], [b]]

    # Keyboard: focus B (last), Shift+Up moves it above A; then t ties A with B.
    page.focus(f'.verdict-item[data-rid="{b}"]')
    page.keyboard.press("Shift+ArrowUp")
    _saved(page, "C > B > A")
    assert _ranking(comparison) == [[c], [b], [a]]
    assert page.evaluate("document.activeElement.dataset.rid") == str(b)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("t")
    _saved(page, "C > B = A")
    assert _ranking(comparison) == [[c], [b, a]]
    assert "tied with Response B" in page.inner_text("#ranking-announce")

    # Touch: drag A's handle to the top; it leaves its tie with B.
    cdp = page.context.new_cdp_session(page)
    x, y, _ = _center(page, f'.verdict-item[data-rid="{a}"] .handle')
    _, _, top = _center(page, f'.verdict-item[data-rid="{c}"]')

    def touch(kind, ty):
        points = [] if kind == "touchEnd" else [{"x": x, "y": ty}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", y)
    for step in range(1, 9):
        touch("touchMove", y + (top["y"] + 4 - y) * step / 8)
    touch("touchEnd", top["y"] + 4)
    _saved(page, "A > C > B")
    assert _ranking(comparison) == [[a], [c], [b]]

    # The buttons move too; a reload shows the verdict as arranged.
    page.click(f'.verdict-item[data-rid="{b}"] [data-move="up"]')
    _saved(page, "A > B > C")
    assert _ranking(comparison) == [[a], [b], [c]]
    page.reload()
    page.wait_for_selector("#verdict-ranking[data-ready]")
    assert _order(page) == ["A", "B", "C"]


def test_next_disagreement_key_and_help(page, live_server):
    project = new_project()
    first, _ = split_ranking(project)
    second = split_pair(project)
    _open(page, live_server, first, reviewer_of(project))
    assert page.get_attribute("#review", "data-comparison") == str(first.pk)
    page.keyboard.press("?")
    assert page.locator("#review-help").get_attribute("open") is not None
    assert "Next disagreement" in page.inner_text("#review-help")
    page.keyboard.press("Escape")
    assert page.locator("#review-help").get_attribute("open") is None

    page.keyboard.press("n")
    page.wait_for_function(
        "id => document.querySelector('#review').dataset.comparison === id", arg=str(second.pk)
    )
    assert page.url.endswith(f"/review/{second.pk}/")
    # The swapped-in pairwise verdict works: choose B, save; the fragment answers in place.
    page.check('#verdict-form input[name="choice"][value="b"]')
    page.click("#verdict-form button[type=submit]")
    _saved(page, "B better")
    assert Adjudication.objects.get(comparison=second).choice == "b"
    # Only the first is left to rule on; n wraps round to it.
    page.keyboard.press("n")
    page.wait_for_function(
        "id => document.querySelector('#review').dataset.comparison === id", arg=str(first.pk)
    )
    page.wait_for_selector("#verdict-ranking[data-ready]")
    # From the list too.
    page.goto(f"/p/{project.slug}/review/")
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/{first.pk}/")


def test_the_ranking_verdict_works_without_javascript(browser, live_server):
    project = new_project()
    comparison, (a, b, c) = split_ranking(project)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, reviewer_of(project), live_server.url)
        page.goto(f"/p/{project.slug}/review/{comparison.pk}/")
        page.select_option(f'select[name="rank-{a}"]', "2")
        page.select_option(f'select[name="rank-{b}"]', "2")
        page.select_option(f'select[name="rank-{c}"]', "1")
        page.click("#verdict-form button[type=submit]")
        page.wait_for_selector("text=Current verdict")
        assert _ranking(comparison) == [[c], [a, b]]
        assert "C > A = B" in page.inner_text("#verdict-status")
    finally:
        context.close()
