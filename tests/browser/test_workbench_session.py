"""Long keyboard sessions, one per mode: 15 items, no pauses between actions.

After every step the page holds exactly one panel, and the database holds what the rater did
(choice, strength, ranking, ratings, edit and its source, rationale, skips), nothing else.
"""

from __future__ import annotations

import pytest

from annotate.models import Assignment, AssignmentStatus, Vote
from tests.browser.workbench import (
    canonical,
    make_project,
    open_project,
    panel_count,
    rank_ids,
    rid_of,
    shown_order,
    until,
    wait_panel,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _stored(user) -> tuple[dict, dict]:
    votes = {
        v.comparison_id: {
            "choice": v.choice,
            "strength": v.strength,
            "ranking": v.ranking,
            "ratings": v.ratings,
            "edit": (v.edited_response.text, v.edited_response.edited_from_id)
            if v.edited_response
            else None,
            "rationale": v.rationale,
        }
        for v in Vote.objects.filter(rater__user=user).select_related("edited_response")
    }
    skips = dict(
        Assignment.objects.filter(rater__user=user, status=AssignmentStatus.SKIPPED).values_list(
            "comparison_id", "skip_reason"
        )
    )
    return votes, skips


NAMED_KEYS = {"Enter", "Escape", "Tab", "ArrowUp", "ArrowDown"}


class Session:
    """The rater's keyboard and what the database should hold after each step."""

    def __init__(self, page, user):
        self.page, self.user = page, user
        self.votes: dict[int, dict] = {}
        self.skips: dict[int, str] = {}

    def keys(self, *keys: str) -> None:
        for key in keys:
            if len(key) > 1 and key not in NAMED_KEYS and "+" not in key:
                self.page.keyboard.type(key)
            else:
                self.page.keyboard.press(key)

    def vote(self, comparison, **fields) -> None:
        self.skips.pop(comparison.pk, None)
        expected = {"choice": "", "strength": None, "ranking": None, "ratings": {}}
        expected.update(edit=None, rationale="")
        expected.update(fields)
        self.votes[comparison.pk] = expected

    def difference(self) -> str:
        votes, skips = _stored(self.user)
        wrong = {
            cid: (votes.get(cid), self.votes.get(cid))
            for cid in set(votes) | set(self.votes)
            if votes.get(cid) != self.votes.get(cid)
        }
        return f"votes (stored, wanted): {wrong}; skips {skips} != {self.skips}"

    def check(self, step: str) -> None:
        assert panel_count(self.page) == 1, f"{step}: more than one panel"
        # Every action sent and answered (a DOM state), then the database must match.
        self.page.wait_for_function("document.body.dataset.pendingActions === '0'")
        until(
            self.page,
            lambda: _stored(self.user) == (self.votes, self.skips),
            message=f"{step}: {self.difference()}",
        )
        assert panel_count(self.page) == 1, f"{step}: more than one panel"


def _choice(comparison, user, label: str) -> str:
    """The canonical choice stored when the rater picks the response shown as `label`."""
    shown = shown_order(comparison, user)[{"A": 0, "B": 1}[label]]
    return "a" if shown == canonical(comparison)[0] else "b"


def test_pairwise_session_of_fifteen_items(page, live_server):
    project, user, c = make_project(items=15, criteria=["helpful", "honest"])
    open_project(page, live_server, project, user)
    s = Session(page, user)

    wait_panel(page, c[0])
    s.keys("1", "x", "Enter")
    s.vote(c[0], choice=_choice(c[0], user, "A"), strength=2)
    s.check("vote with strength")

    wait_panel(page, c[1])
    a, b = rid_of(page, "A"), rid_of(page, "B")
    s.keys("2", "z", "f", "4", "3", "5", "2", "Enter")
    s.vote(
        c[1],
        choice=_choice(c[1], user, "B"),
        strength=1,
        ratings={str(a): {"helpful": 4, "honest": 3}, str(b): {"helpful": 5, "honest": 2}},
    )
    s.check("ratings by keyboard")

    wait_panel(page, c[2])
    s.keys("3", "Enter")
    s.vote(c[2], choice="tie")
    s.check("tie")

    wait_panel(page, c[3])
    b = rid_of(page, "B")
    choice_a = _choice(c[3], user, "A")
    s.keys("2", "e", "Control+a", "Better answer.", "Escape", "1", "c", "Enter")
    s.vote(c[3], choice=choice_a, strength=3, edit=("Better answer.", b))
    s.check("edit of B, then A chosen")

    wait_panel(page, c[4])
    s.keys("s", "not sure", "Enter")
    s.skips[c[4].pk] = "not sure"
    s.check("skip with a reason")

    wait_panel(page, c[5])
    s.keys("u")
    del s.skips[c[4].pk]
    s.check("undo of the skip")

    wait_panel(page, c[4])
    s.keys("4", "Enter")
    s.vote(c[4], choice="both_bad")
    s.check("vote on the item the undo brought back")

    wait_panel(page, c[5])
    s.keys("1", "Enter")
    s.vote(c[5], choice=_choice(c[5], user, "A"))
    s.check("plain vote")

    wait_panel(page, c[6])
    s.keys("2", "r", "because", "Control+Enter", "Escape", "u")
    s.check("vote then undo at once")

    wait_panel(page, c[6])
    assert page.input_value('#panel textarea[name="rationale"]') == "because"
    assert page.is_checked('#panel input[name="choice"][value="b"]')
    s.keys("1", "x", "Enter")
    s.vote(c[6], choice=_choice(c[6], user, "A"), strength=2, rationale="because")
    s.check("vote again after the undo, rationale kept")

    wait_panel(page, c[7])
    s.keys("b")
    wait_panel(page, c[6])
    assert page.inner_text("#submit-vote").startswith("Update vote")
    s.keys("2", "Enter")
    s.vote(c[6], choice=_choice(c[6], user, "B"), strength=2, rationale="because")
    s.check("back and revote")

    wait_panel(page, c[7])
    s.keys("3", "Enter")
    s.vote(c[7], choice="tie")
    s.check("vote after the revote")

    wait_panel(page, c[8])
    s.keys("s", "Enter")
    s.skips[c[8].pk] = ""
    s.check("skip without a reason")

    for n in range(9, 15):
        wait_panel(page, c[n])
        label = "A" if n % 2 else "B"
        if n == 11:
            a = rid_of(page, "A")
            s.keys("1", "f", "1", "Enter")
            s.vote(c[n], choice=_choice(c[n], user, "A"), ratings={str(a): {"helpful": 1}})
        else:
            s.keys("1" if label == "A" else "2", "Enter")
            s.vote(c[n], choice=_choice(c[n], user, label))
        s.check(f"item {n + 1}")
    page.wait_for_selector("text=All done")
    assert panel_count(page) == 1


def test_ranking_session_of_fifteen_items(page, live_server):
    project, user, c = make_project(items=15, n=3, criteria=["helpful"])
    open_project(page, live_server, project, user)
    s = Session(page, user)

    def focused_first(comparison):
        wait_panel(page, comparison)
        page.wait_for_function("document.activeElement.classList.contains('rank-item')")
        return rank_ids(page)

    for n in range(15):
        if n in (5, 9):  # done below, with an undo or a back in between
            continue
        r = focused_first(c[n])
        if n == 0:
            s.keys("Enter")
            s.vote(c[n], ranking=[[r[0]], [r[1]], [r[2]]])
            s.check("ranking as shown")
        elif n == 1:
            s.keys("Shift+ArrowDown", "Enter")
            s.vote(c[n], ranking=[[r[1]], [r[0]], [r[2]]])
            s.check("first moved down")
        elif n == 2:
            s.keys("Shift+ArrowDown", "t", "Enter")
            s.vote(c[n], ranking=[[r[1], r[0]], [r[2]]])
            s.check("moved and tied")
        elif n == 3:
            s.keys("f", "5", "2", "4", "Enter")
            ratings = {
                str(r[0]): {"helpful": 5},
                str(r[1]): {"helpful": 2},
                str(r[2]): {"helpful": 4},
            }
            s.vote(c[n], ranking=[[r[0]], [r[1]], [r[2]]], ratings=ratings)
            s.check("ratings by keyboard")
        elif n == 4:
            s.keys("ArrowDown", "ArrowDown", "Shift+ArrowUp", "Shift+ArrowUp")
            s.keys("e", "Control+a", "An ideal answer.", "Control+Enter")
            s.vote(c[n], ranking=[[r[2]], [r[0]], [r[1]]], edit=("An ideal answer.", r[2]))
            s.check("edit of the new top response")
            # 5: skipped, the skip undone, then ranked.
            r5 = focused_first(c[5])
            s.keys("s", "no idea", "Enter")
            s.skips[c[5].pk] = "no idea"
            s.check("skip")
            wait_panel(page, c[6])
            s.keys("u")
            del s.skips[c[5].pk]
            s.check("undo of the skip")
            r5 = focused_first(c[5])
            s.keys("ArrowDown", "Shift+ArrowDown", "Enter")
            s.vote(c[5], ranking=[[r5[0]], [r5[2]], [r5[1]]])
            s.check("ranked after the undo")
        elif n == 8:
            s.keys("Enter", "u")
            s.check("vote then undo at once")
            r = focused_first(c[8])
            s.keys("Shift+ArrowDown", "Shift+ArrowDown", "Enter")
            s.vote(c[8], ranking=[[r[1]], [r[2]], [r[0]]])
            s.check("ranked again after the undo")
            # 9: back to 8 and rank it again, then 9.
            wait_panel(page, c[9])
            s.keys("b")
            r8 = focused_first(c[8])
            assert r8 == [r[1], r[2], r[0]]  # the stored ranking is shown back
            s.keys("Shift+ArrowDown", "Enter")
            s.vote(c[8], ranking=[[r[2]], [r[1]], [r[0]]])
            s.check("back and rerank")
            r9 = focused_first(c[9])
            s.keys("Enter")
            s.vote(c[9], ranking=[[r9[0]], [r9[1]], [r9[2]]])
            s.check("vote after the rerank")
        elif n == 12:
            s.keys("s", "Enter")
            s.skips[c[n].pk] = ""
            s.check("skip without a reason")
        else:
            s.keys("Shift+ArrowDown", "Enter")
            s.vote(c[n], ranking=[[r[1]], [r[0]], [r[2]]])
            s.check(f"item {n + 1}")
    page.wait_for_selector("text=All done")
    assert panel_count(page) == 1
