"""An annotator's day in a real browser, keyboard only; and model output that must stay inert."""

from __future__ import annotations

import pytest

from annotate.models import Assignment, AssignmentStatus, ComparisonItem, Role, Vote
from tests.browser.conftest import login
from tests.browser.workbench import panel_count, until
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _wait_for_new_panel(page, old_id: str) -> str:
    page.wait_for_function(
        "old => { const p = document.querySelector('#panel');"
        " return p && p.dataset.comparison !== old"
        " && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling'); }",
        arg=old_id,
    )
    return page.get_attribute("#panel", "data-comparison")


def _label_of(page, response_id: int) -> str:
    return page.get_attribute(f'#vote-form [data-rid="{response_id}"]', "data-label")


def test_keyboard_only_session_votes_edits_ranks_skips_and_undoes(page):
    project = ProjectFactory(overlap=1, criteria=["helpful"])
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    pairwise = [make_comparison(project=project) for _ in range(11)]
    ranked = make_comparison(project=project, n=3)

    login(page, user.username)
    page.goto(f"/p/{project.slug}/")
    current = page.get_attribute("#panel", "data-comparison")
    wanted = {}  # comparison id -> canonical choice we expect stored
    for n, comparison in enumerate(pairwise[:10]):
        assert current == str(comparison.pk)
        first, second = [
            i.response_id for i in ComparisonItem.objects.filter(comparison=comparison)
        ]
        # Prefer canonical position 0 on even items, position 1 on odd ones, whatever the display.
        target = first if n % 2 == 0 else second
        page.keyboard.press("1" if _label_of(page, target) == "A" else "2")
        page.keyboard.press("x")
        if n == 3:  # edit the preferred response into an ideal one
            page.keyboard.press("e")
            page.keyboard.press("Control+a")
            page.keyboard.type("An ideal, edited answer.")
            page.wait_for_selector("#edit-diff ins")
            page.keyboard.press("Control+Enter")
        else:
            page.keyboard.press("Enter")
        wanted[comparison.pk] = "a" if target == first else "b"
        current = _wait_for_new_panel(page, current)

    # Undo the tenth vote: it comes back; vote it again the other way.
    page.keyboard.press("u")
    current = _wait_for_new_panel(page, current)
    tenth = pairwise[9]
    assert current == str(tenth.pk)
    assert not Vote.objects.filter(comparison=tenth).exists()
    first, second = [i.response_id for i in ComparisonItem.objects.filter(comparison=tenth)]
    page.keyboard.press("1" if _label_of(page, first) == "A" else "2")
    page.keyboard.press("Enter")
    wanted[tenth.pk] = "a"
    current = _wait_for_new_panel(page, current)

    # Skip the eleventh with a reason.
    assert current == str(pairwise[10].pk)
    page.keyboard.press("s")
    page.keyboard.type("outside my expertise")
    page.keyboard.press("Enter")
    current = _wait_for_new_panel(page, current)

    # Rank the N-way comparison: move the first response down one, tie the last with it.
    assert current == str(ranked.pk)
    page.wait_for_function("document.activeElement.classList.contains('rank-item')")
    labels = page.eval_on_selector_all(
        "#ranking .rank-item", "els => els.map(e => Number(e.dataset.rid))"
    )
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("t")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=All done")

    votes = {v.comparison_id: v for v in Vote.objects.filter(rater__user=user)}
    assert {cid: votes[cid].choice for cid in wanted} == wanted
    assert all(votes[cid].strength == 2 for cid in wanted if cid != tenth.pk)
    assert votes[pairwise[3].pk].edited_response.text == "An ideal, edited answer."
    assert votes[ranked.pk].ranking == [[labels[1]], [labels[0], labels[2]]]
    assert all(v.time_spent_ms is not None for v in votes.values())
    assert len(votes) == 11
    skipped = Assignment.objects.get(comparison=pairwise[10])
    assert (skipped.status, skipped.skip_reason) == (
        AssignmentStatus.SKIPPED,
        "outside my expertise",
    )

    from annotate.services.export import ExportOptions, export_rows

    rows = list(export_rows(project=project, options=ExportOptions(kind="preference")))
    # 10 pairwise wins, the edit adds edited>chosen and edited>rejected, the ranking 2 pairs.
    assert len(rows) == 14
    assert sum(r["chosen"] == "An ideal, edited answer." for r in rows) == 2


def test_ranking_by_drag_and_drop(page):
    project = ProjectFactory(overlap=1)
    user = UserFactory()
    MembershipFactory(project=project, user=user)
    ranked = make_comparison(project=project, n=3)
    login(page, user.username)
    page.goto(f"/p/{project.slug}/")
    ids = page.eval_on_selector_all(
        "#ranking .rank-item", "els => els.map(e => Number(e.dataset.rid))"
    )
    page.drag_and_drop(
        "#ranking .rank-item:nth-child(3)",
        "#ranking .rank-item:nth-child(1)",
        target_position={"x": 20, "y": 5},
    )
    page.click("#submit-vote")
    page.wait_for_selector("text=All done")
    vote = Vote.objects.get(comparison=ranked)
    assert vote.ranking == [[ids[2]], [ids[0]], [ids[1]]]


HOSTILE = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "[click me](javascript:alert('link'))",
    '<iframe src="http://evil.example/frame"></iframe>',
    "<b onmouseover=alert('raw')>raw html</b>",
    "![tracker](http://evil.example/pixel.png)",
    "<svg onload=alert('svg')></svg>",
]


def test_hostile_model_output_renders_inert(page, live_server):
    project = ProjectFactory(overlap=1)
    user = UserFactory()
    MembershipFactory(project=project, user=user)
    comparison = make_comparison(project=project)
    a, b = comparison.ordered_responses()
    a.text = "\n\n".join(HOSTILE)
    a.save()
    b.text = "Fine answer with `code` and a [safe link](https://example.org)."
    b.save()
    comparison.prompt.messages = [{"role": "user", "content": HOSTILE[0] + HOSTILE[1]}]
    comparison.prompt.save()

    dialogs, foreign = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on(
        "request", lambda r: None if r.url.startswith(live_server.url) else foreign.append(r.url)
    )
    login(page, user.username)
    page.goto(f"/p/{project.slug}/")
    page.wait_for_selector("#vote-form")
    page.hover("text=raw html")
    page.click("text=click me") if page.query_selector("a:has-text('click me')") else None
    page.wait_for_timeout(300)
    assert dialogs == []
    assert foreign == []
    assert page.locator("iframe").count() == 0
    assert page.locator("#panel img").count() == 0
    assert "<script>alert('script')</script>" in page.inner_text("#panel")


def test_next_item_is_prefetched_and_shows_before_the_vote_returns(page):
    project = ProjectFactory(overlap=1)
    user = UserFactory()
    MembershipFactory(project=project, user=user)
    first, second = make_comparison(project=project), make_comparison(project=project)
    login(page, user.username)
    page.goto(f"/p/{project.slug}/")
    page.wait_for_load_state("networkidle")  # the prefetch of the next panel has landed
    released = []

    def slow_vote(route):
        page.wait_for_timeout(1500)
        released.append(True)
        route.continue_()

    page.route("**/vote/", slow_vote)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'#panel[data-comparison="{second.pk}"]', timeout=1000)
    assert released == []  # shown from the prefetch, before the server answered the vote
    until(page, lambda: Vote.objects.filter(comparison=first).exists())
    assert Vote.objects.get(comparison=first).rater.user == user
    page.wait_for_function("document.body.dataset.pendingActions === '0'")
    assert panel_count(page) == 1
    assert page.get_attribute("#panel", "data-comparison") == str(second.pk)


def test_a_refused_vote_shows_its_error_on_the_same_item(page):
    project = ProjectFactory(overlap=1)
    user = UserFactory()
    MembershipFactory(project=project, user=user)
    first = make_comparison(project=project)
    make_comparison(project=project)
    login(page, user.username)
    page.goto(f"/p/{project.slug}/")
    page.keyboard.press("Enter")  # no choice made
    page.wait_for_selector("#panel .error")
    assert "Choose first: A better (1)" in page.inner_text("#panel .error")
    assert page.get_attribute("#panel", "data-comparison") == str(first.pk)
    assert not Vote.objects.exists()
