"""Helpers for the annotator workbench browser tests (tests/browser/test_workbench_*.py).

Sign-in goes through the session cookie instead of the login form: the login form has its own
test, and every workbench test would otherwise spend a page load on it.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.test import Client

from annotate.models import Assignment, ComparisonItem, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison


def sign_in(page, user, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
    )


def make_project(*, items: int = 3, n: int = 2, criteria=(), **fields):
    """A project with `items` comparisons of `n` responses and one annotator in it."""
    project = ProjectFactory(overlap=1, criteria=list(criteria), **fields)
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    comparisons = [make_comparison(project=project, n=n) for _ in range(items)]
    return project, user, comparisons


def open_project(page, live_server, project, user) -> None:
    sign_in(page, user, live_server.url)
    page.goto(f"/p/{project.slug}/")
    page.wait_for_selector("#panel")


def until(page, predicate, *, timeout: float = 10.0, message: str = "") -> None:
    """Poll `predicate` (DB or DOM) while letting the browser run; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met in {timeout}s: {predicate}")
        page.wait_for_timeout(20)


def panel_id(page) -> str | None:
    return page.get_attribute("#panel", "data-comparison")


def wait_panel(page, comparison) -> None:
    """Wait until the panel on screen is `comparison`'s and nothing is being swapped."""
    page.wait_for_function(
        "id => { const p = document.querySelectorAll('#panel');"
        " return p.length === 1 && p[0].dataset.comparison === String(id)"
        " && !document.querySelector('.htmx-swapping, .htmx-settling'); }",
        arg=comparison.pk,
    )


def panel_count(page) -> int:
    """Every panel in the DOM, hidden or not, whatever its id."""
    return page.evaluate("document.querySelectorAll('section.panel, [id^=panel]').length")


def rid_of(page, label: str) -> int:
    return int(page.get_attribute(f'#panel [data-label="{label}"]', "data-rid"))


def label_of(page, rid: int) -> str:
    return page.get_attribute(f'#panel [data-rid="{rid}"]', "data-label")


def canonical(comparison) -> list[int]:
    return list(
        ComparisonItem.objects.filter(comparison=comparison)
        .order_by("position")
        .values_list("response_id", flat=True)
    )


def shown_order(comparison, user) -> list[int]:
    return Assignment.objects.get(comparison=comparison, rater__user=user).display_order


def key_for(comparison, user, rid: int) -> str:
    """The digit that chooses response `rid` of a pairwise comparison for this rater."""
    return "1" if shown_order(comparison, user)[0] == rid else "2"


def rank_ids(page) -> list[int]:
    """The response ids of the ranking on screen, top first."""
    return [
        int(x)
        for x in page.eval_on_selector_all(
            "#panel .rank-item", "els => els.map(e => e.dataset.rid)"
        )
    ]
