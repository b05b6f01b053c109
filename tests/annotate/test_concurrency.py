"""Votes under real concurrency: threads hitting a live server over HTTP, released together.

Runs on the configured database: SQLite by default (a file, shared by the server's threads), and
PostgreSQL with DATABASE_URL=postgresql://... . Every request loop here is bounded in count and
talks only to the live server on this machine.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db.models import Count
from rest_framework.authtoken.models import Token

from annotate.models import Comparison, Response, Role, Vote
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ROUNDS = 25
TIMEOUT_S = 60


def request(base: str, method: str, path: str, token: str, body: dict | None = None) -> tuple:
    """(status, parsed JSON or None); HTTP errors are results here, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw[:500]


def together(calls: list) -> list:
    """Run each zero-argument call in its own thread, all released at the same instant."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=TIMEOUT_S)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def raters():
    """A project with overlap 2, ROUNDS comparisons, and two annotators with API tokens."""
    project = ProjectFactory(overlap=2)
    users = [
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory()).user
        for _ in range(2)
    ]
    tokens = [Token.objects.create(user=user).key for user in users]
    comparisons = [make_comparison(project=project) for _ in range(ROUNDS)]
    return project, users, tokens, comparisons


def assert_no_server_errors(results: list[tuple]) -> None:
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {200, 201}, (statuses, [r for r in results if r[0] not in (200, 201)])


def assert_one_vote_per_rater_and_counts_match() -> None:
    duplicates = Vote.objects.values("comparison", "rater").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists(), list(duplicates)
    for comparison in Comparison.objects.annotate(real=Count("votes")):
        assert comparison.vote_count == comparison.real, comparison


def test_two_raters_voting_on_the_same_comparison_at_once_both_count(live_server, raters):
    _, users, tokens, comparisons = raters
    results = []
    for comparison in comparisons:
        results += together(
            [
                lambda t=token, c=choice, cid=comparison.pk: request(
                    live_server.url, "POST", "/api/votes/", t, {"comparison": cid, "choice": c}
                )
                for token, choice in zip(tokens, ["a", "b"], strict=True)
            ]
        )
    assert_no_server_errors(results)
    assert all(status == 201 for status, _ in results)
    assert_one_vote_per_rater_and_counts_match()
    # No vote lost, and each rater's own choice is the one recorded.
    assert Vote.objects.count() == 2 * ROUNDS
    assert Counter(Vote.objects.values_list("rater__user", "choice")) == Counter(
        {(users[0].pk, "a"): ROUNDS, (users[1].pk, "b"): ROUNDS}
    )
    assert set(Comparison.objects.values_list("vote_count", flat=True)) == {2}


def test_one_rater_double_submitting_keeps_a_single_vote(live_server, raters):
    _, users, tokens, comparisons = raters
    results = []
    for comparison in comparisons:
        results += together(
            [
                lambda c=choice, cid=comparison.pk: request(
                    live_server.url,
                    "POST",
                    "/api/votes/",
                    tokens[0],
                    {"comparison": cid, "choice": c},
                )
                for choice in ["a", "b", "tie"]
            ]
        )
    assert_no_server_errors(results)
    assert_one_vote_per_rater_and_counts_match()
    assert Vote.objects.filter(rater__user=users[0]).count() == ROUNDS
    assert set(Comparison.objects.values_list("vote_count", flat=True)) == {1}
    # Every submission answered with the one vote of its comparison.
    by_comparison: dict[int, set[int]] = {}
    for _, body in results:
        by_comparison.setdefault(body["comparison"], set()).add(body["id"])
    assert all(len(ids) == 1 for ids in by_comparison.values())


# On PostgreSQL the second of two identical edits used to hit response_unique_per_prompt (500).
def test_double_submitting_the_same_edit_keeps_one_vote_and_one_edited_response(
    live_server, raters
):
    _, users, tokens, comparisons = raters
    results = []
    for comparison in comparisons:
        body = {"comparison": comparison.pk, "choice": "a", "edited_text": f"Ideal {comparison.pk}"}
        results += together(
            [lambda b=body: request(live_server.url, "POST", "/api/votes/", tokens[0], b)] * 2
        )
    assert_no_server_errors(results)
    assert_one_vote_per_rater_and_counts_match()
    assert Response.objects.filter(source="edit").count() == ROUNDS
    assert Vote.objects.filter(edited_response__isnull=False).count() == ROUNDS


# A second concurrent undo used to decrement vote_count again (below zero: 500 on the CHECK).
def test_a_double_undo_removes_the_vote_once(live_server, raters):
    _, users, tokens, comparisons = raters
    results = []
    for comparison in comparisons:
        status, vote = request(
            live_server.url,
            "POST",
            "/api/votes/",
            tokens[0],
            {"comparison": comparison.pk, "choice": "a"},
        )
        assert status == 201, vote
        path = f"/api/votes/{vote['id']}/"
        results += together([lambda p=path: request(live_server.url, "DELETE", p, tokens[0])] * 2)
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {204, 404}, statuses
    assert not Vote.objects.exists()
    # The denormalised count must come back to 0, not below: a second undo removes nothing.
    assert set(Comparison.objects.values_list("vote_count", flat=True)) == {0}
