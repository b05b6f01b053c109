"""Five annotators at once against a live server: overlap k=3 holds exactly."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
from collections import Counter

import pytest

from annotate.models import Comparison, Role, Vote
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
PANEL = re.compile(r'id="panel" class="panel" data-comparison="(\d*)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Browserless:
    """A logged-in session speaking to the live server the way htmx does."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.get("/accounts/login/")
        self.post(
            "/accounts/login/",
            {
                "username": username,
                "password": "pw-secret-123",
                "csrfmiddlewaretoken": CSRF.search(page).group(1),
            },
            htmx=False,
        )

    @property
    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path: str, htmx: bool = False) -> str:
        request = urllib.request.Request(
            self.base + path, headers={"HX-Request": "true"} if htmx else {}
        )
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, data: dict, htmx: bool = True) -> str:
        headers = {"X-CSRFToken": self.csrf, "Referer": self.base + path}
        if htmx:
            headers["HX-Request"] = "true"
        request = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(data).encode(), headers=headers
        )
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()


def test_five_annotators_at_once_leave_exactly_three_votes_per_comparison(live_server):
    project = ProjectFactory(overlap=3)
    comparisons = [make_comparison(project=project) for _ in range(50)]
    users = [UserFactory() for _ in range(5)]
    for user in users:
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    voted: dict[str, list[int]] = {u.username: [] for u in users}
    errors: list[BaseException] = []
    start = threading.Barrier(len(users))

    def work(username: str) -> None:
        try:
            session = Browserless(live_server.url, username)
            start.wait()
            html = session.get(f"/p/{project.slug}/", htmx=True)
            while current := PANEL.search(html).group(1):
                html = session.post(f"/p/{project.slug}/c/{current}/vote/", {"choice": "a"})
                voted[username].append(int(current))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(u.username,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    for ids in voted.values():
        assert len(ids) == len(set(ids)), "somebody judged a comparison twice"
    assert Counter(i for ids in voted.values() for i in ids) == {c.pk: 3 for c in comparisons}
    assert Vote.objects.count() == 150
    assert set(Comparison.objects.values_list("vote_count", flat=True)) == {3}
    assert all(ids for ids in voted.values()), "every annotator got work"
