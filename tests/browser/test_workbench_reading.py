"""Reading long answers (issue 10): word diff of A against B, A and B scrolling together,
long responses collapsed, their length in words and tokens, and the rater's pace."""

from __future__ import annotations

import pytest

from annotate.models import Response, Vote
from annotate.templatetags.annotate_tags import approx_tokens
from tests.browser.workbench import make_project, open_project, rid_of, until, wait_panel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "\n\n".join(f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 12 for n in range(40))


def _texts(page, comparison, a: str, b: str) -> None:
    """Give the responses shown as A and B these texts (the panel is reloaded)."""
    Response.objects.filter(pk=rid_of(page, "A")).update(text=a)
    Response.objects.filter(pk=rid_of(page, "B")).update(text=b)
    page.reload()
    wait_panel(page, comparison)


def test_word_diff_marks_what_differs_toggles_by_key_and_is_remembered(page, live_server):
    project, user, (first, second, _) = make_project(items=3)
    open_project(page, live_server, project, user)
    _texts(page, first, "The cat sat on the mat.", "The dog sat on the mat today.")
    assert not page.is_visible("#panel .diffview")
    page.keyboard.press("d")
    page.wait_for_selector('#panel .response[data-label="A"] .diffview', state="visible")
    assert page.eval_on_selector_all(
        '#panel .response[data-label="A"] .diffview del', "els => els.map(e => e.textContent)"
    ) == ["cat", "mat."]
    assert page.eval_on_selector_all(
        '#panel .response[data-label="B"] .diffview ins', "els => els.map(e => e.textContent)"
    ) == ["dog", "mat", "today."]
    assert not page.is_visible('#panel .response[data-label="A"] .markdown')
    assert page.get_attribute('[data-view="diff"]', "aria-pressed") == "true"

    page.reload()  # remembered for this user
    wait_panel(page, first)
    page.wait_for_selector('#panel .response[data-label="B"] .diffview', state="visible")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    wait_panel(page, second)  # and on the next item
    page.wait_for_selector('#panel .response[data-label="A"] .diffview', state="visible")
    until(page, lambda: Vote.objects.filter(comparison=first, choice="tie").exists())

    page.keyboard.press("d")
    page.wait_for_selector('#panel .response[data-label="A"] .markdown', state="visible")
    assert not page.is_visible("#panel .diffview")
    assert page.evaluate(f"localStorage.getItem('ps-view:{user.pk}:diff')") == "false"

    page.keyboard.press("?")
    help_text = page.inner_text("#help")
    assert "Word diff" in help_text and "Scroll A and B together" in help_text
    assert (
        page.locator("#help kbd", has_text="d").count()
        and page.locator("#help kbd", has_text="y").count()
    )


def test_a_and_b_scroll_together_when_switched_on(page, live_server):
    project, user, (first, _) = make_project(items=2)
    open_project(page, live_server, project, user)
    _texts(page, first, LONG, LONG + "\n\nA last paragraph only B has. " * 20)
    box = '#panel .response[data-label="{}"] > .markdown'
    page.keyboard.press("y")
    page.wait_for_function("document.body.classList.contains('sync-scroll')")
    assert page.evaluate(
        f"(() => {{ const b = document.querySelector('{box.format('A')}');"
        " return b.scrollHeight > b.clientHeight; })()"
    ), "A is not a scroll box of its own"
    page.eval_on_selector(box.format("A"), "b => { b.scrollTop = b.scrollHeight; }")
    page.wait_for_function(
        "sel => { const b = document.querySelector(sel);"
        " return b.scrollTop > 0.95 * (b.scrollHeight - b.clientHeight); }",
        arg=box.format("B"),
    )
    page.eval_on_selector(box.format("B"), "b => { b.scrollTop = 0; }")
    page.wait_for_function(
        "sel => document.querySelector(sel).scrollTop === 0", arg=box.format("A")
    )

    page.reload()  # remembered; off again with the key
    wait_panel(page, first)
    page.wait_for_function("document.body.classList.contains('sync-scroll')")
    page.keyboard.press("y")
    page.wait_for_function("!document.body.classList.contains('sync-scroll')")
    page.eval_on_selector(box.format("A"), "b => { b.scrollTop = 0; }")
    assert page.evaluate(f"localStorage.getItem('ps-view:{user.pk}:sync')") == "false"


def test_long_responses_collapse_and_every_response_shows_its_length(page, live_server):
    project, user, (first, _) = make_project(items=2)
    open_project(page, live_server, project, user)
    _texts(page, first, LONG, "Short answer.")
    a = '#panel .response[data-label="A"]'
    assert page.get_attribute(a, "class").split().count("long") == 1
    assert page.locator('#panel .response[data-label="B"] .expand').count() == 0
    collapsed = page.eval_on_selector(f"{a} > .markdown", "e => e.clientHeight")
    page.click(f"{a} .expand")
    assert "expanded" in page.get_attribute(a, "class")
    assert page.get_attribute(f"{a} .expand", "aria-expanded") == "true"
    assert page.inner_text(f"{a} .expand") == "Show less"
    assert page.eval_on_selector(f"{a} > .markdown", "e => e.clientHeight") > collapsed
    page.click(f"{a} .expand")
    assert page.get_attribute(f"{a} .expand", "aria-expanded") == "false"

    for label, text in (("A", LONG), ("B", "Short answer.")):
        length = page.inner_text(f'#panel .response[data-label="{label}"] .length')
        assert length == f"{len(text.split())} words · ~{approx_tokens(text)} tokens"


# The "time on this item" shown, in seconds ("m:ss").
SECONDS = (
    "() => { const [m, s] = document.querySelector('[data-pace=item]').textContent.split(':');"
    " return 60 * Number(m) + Number(s); }"
)


def _seconds(page) -> int:
    return page.evaluate(f"({SECONDS})()")


def test_time_on_item_and_items_per_hour(page, live_server):
    project, user, (first, second, _) = make_project(items=3)
    page.clock.install()
    open_project(page, live_server, project, user)
    page.clock.fast_forward("01:05")
    page.wait_for_function(f"({SECONDS})() >= 65")
    assert _seconds(page) < 75
    assert page.inner_text("[data-pace=rate]") == "–"  # nothing finished yet
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    wait_panel(page, second)
    until(page, lambda: Vote.objects.filter(comparison=first).exists())
    stored = Vote.objects.get(comparison=first).time_spent_ms
    assert stored >= 65_000  # the time on the item is what the vote records
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    page.clock.fast_forward("00:55")  # one item in about two minutes since the page opened
    page.wait_for_function(f"({SECONDS})() >= 55")
    assert _seconds(page) < 65  # the clock restarted on the new item
    rate = int(page.inner_text("[data-pace=rate]"))
    assert 25 <= rate <= 30
