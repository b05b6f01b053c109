"""From one comparison's votes to the preference pairs it implies. Pure functions, no database.

The rules are documented in docs/export.md; this module is their single implementation.
A `final_verdict` (a reviewer's adjudication, issue 3) replaces the majority of a pairwise
comparison when given: agreement and plurality checks then do not apply.

Votes carry a weight (1 unless an export weighs AI-judge votes otherwise) and, for soft labels,
a share toward "a": majorities, agreement and margins are weighted tallies. With every weight 1
the tallies are integers, so the default export is exactly what plain vote counts give.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import NamedTuple

A, B, TIE, BOTH_BAD = "a", "b", "tie", "both_bad"
VERDICTS = (A, B, TIE, BOTH_BAD)
VERDICT_SET = frozenset(VERDICTS)

# Where a pair came from: a majority verdict, an N-way ranking, a rater's edit, or a kept tie /
# both-bad (written both ways round, so neither response is pushed above the other).
FROM_VERDICT, FROM_RANKING, FROM_EDIT, FROM_TIE, FROM_BOTH_BAD = (
    "verdict",
    "ranking",
    "edit",
    "tie",
    "both_bad",
)
_SOURCE_COUNT = {
    source: f"pairs_from_{source}"
    for source in (FROM_VERDICT, FROM_RANKING, FROM_EDIT, FROM_TIE, FROM_BOTH_BAD)
}
STRICT_SOURCES = frozenset({FROM_VERDICT, FROM_RANKING, FROM_EDIT})
EDIT_MARGIN = 1.0


class VoteFacts(NamedTuple):
    """What the aggregation needs of a vote (canonical positions: "a" = position 0).

    NamedTuples, not dataclasses: a million of them are made per million pairs exported."""

    choice: str = ""
    strength: int | None = None
    ranking: Sequence[Sequence[int]] | None = None
    edited_id: int | None = None
    weight: float = 1
    """What the vote weighs against a plain vote (judge_weight for AI judges)."""
    share_a: float | None = None
    """A soft label: the share of `weight` toward "a" (the rest goes to "b"), else None."""


class Pair(NamedTuple):
    chosen: int
    rejected: int
    margin: float
    source: str

    @property
    def strict(self) -> bool:
        """True when `chosen` is really preferred (not one half of a kept tie or both-bad)."""
        return self.source in STRICT_SOURCES


@dataclass(frozen=True, slots=True)
class Rules:
    """The options that change how votes become pairs."""

    min_agreement: float = 0.0
    keep_ties: bool = False
    keep_both_bad: bool = False


@dataclass(slots=True)
class Outcome:
    """What one comparison contributes: pairs, and responses its raters called both bad."""

    pairs: list[Pair] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)


def aggregate_comparison(
    item_ids: Sequence[int],
    votes: Sequence[VoteFacts],
    rules: Rules,
    counts: Counter,
    final_verdict: str | None = None,
) -> Outcome:
    """Pairs implied by `votes` on the responses `item_ids` (canonical order).

    `counts` gathers why decisions were dropped: dropped_split (plurality tie between labels),
    dropped_low_agreement, dropped_ties, dropped_both_bad.
    """
    if (
        len(votes) == 1
        and len(item_ids) == 2
        and final_verdict is None
        and votes[0].share_a is None
    ):
        decisive = _single_decisive_vote(item_ids, votes[0])
        if decisive is not None:
            return decisive
    outcome = Outcome()
    if len(item_ids) == 2:
        _pairwise(item_ids, votes, rules, counts, final_verdict, outcome)
    elif len(item_ids) > 2:
        _ranking(item_ids, votes, rules, counts, outcome)
    _edits(item_ids, votes, outcome)
    return outcome


def _single_decisive_vote(item_ids: Sequence[int], vote: VoteFacts) -> Outcome | None:
    """One hard a/b vote without an edit, by far the commonest comparison: the same result as
    the general path (agreement 1, margin = its strength, whatever its weight), without its
    bookkeeping."""
    if vote.edited_id is not None:
        return None
    a, b = item_ids
    if vote.choice == A:
        return Outcome([Pair(a, b, float(vote.strength or 1), FROM_VERDICT)], [])
    if vote.choice == B:
        return Outcome([Pair(b, a, float(vote.strength or 1), FROM_VERDICT)], [])
    return None


def pairwise_label(vote: VoteFacts, item_ids: Sequence[int]) -> str | None:
    """A two-response vote as a/b/tie/both_bad; a ranking-only vote is read from its tiers."""
    if vote.choice in VERDICTS:
        return vote.choice
    if vote.ranking:
        first = list(vote.ranking[0])
        if len(first) > 1:
            return TIE
        return A if first[0] == item_ids[0] else B
    return None


def _pairwise(
    item_ids: Sequence[int],
    votes: Sequence[VoteFacts],
    rules: Rules,
    counts: Counter,
    final_verdict: str | None,
    outcome: Outcome,
) -> None:
    voters: list[tuple[VoteFacts, str]] = []
    for vote in votes:
        label = vote.choice if vote.choice in VERDICT_SET else pairwise_label(vote, item_ids)
        if label is not None:
            voters.append((vote, label))
    if final_verdict is not None:
        verdict = final_verdict
    else:
        if not voters:
            return
        tally = _tally(voters)
        verdict, top, split = _majority(tally)
        if split:
            counts["dropped_split"] += 1
            return
        if top / sum(tally.values()) < rules.min_agreement:
            counts["dropped_low_agreement"] += 1
            return
    a, b = item_ids
    if verdict in (A, B):
        winner, loser = (a, b) if verdict == A else (b, a)
        outcome.pairs.append(Pair(winner, loser, _pairwise_margin(voters, verdict), FROM_VERDICT))
    elif verdict == TIE:
        if not rules.keep_ties:
            counts["dropped_ties"] += 1
            return
        outcome.pairs += [Pair(a, b, 0.0, FROM_TIE), Pair(b, a, 0.0, FROM_TIE)]
    elif verdict == BOTH_BAD:
        if not rules.keep_both_bad:
            counts["dropped_both_bad"] += 1
            return
        outcome.pairs += [Pair(a, b, 0.0, FROM_BOTH_BAD), Pair(b, a, 0.0, FROM_BOTH_BAD)]
        outcome.bad += [a, b]


def _tally(voters: list[tuple[VoteFacts, str]]) -> dict[str, float]:
    """{label: summed weight}; a soft label splits its weight between "a" and "b"."""
    tally: dict[str, float] = {}
    for vote, label in voters:
        if vote.share_a is None:
            tally[label] = tally.get(label, 0) + vote.weight
        else:
            tally[A] = tally.get(A, 0) + vote.weight * vote.share_a
            tally[B] = tally.get(B, 0) + vote.weight * (1 - vote.share_a)
    return tally


def _majority(tally: dict[str, float]) -> tuple[str, float, bool]:
    """(heaviest label, its weight, whether another label weighs as much)."""
    if len(tally) == 1:  # the common case by far: every vote says the same
        ((verdict, top),) = tally.items()
        return verdict, top, False
    (verdict, top), (_, second) = sorted(tally.items(), key=_by_weight, reverse=True)[:2]
    return verdict, top, _same(top, second)


def _by_weight(item: tuple[str, float]) -> float:
    return item[1]


def _same(x: float, y: float) -> bool:
    """Equal weights. Integer tallies compare exactly; fractional weights and soft labels add up
    with rounding errors (0.1 + 0.2 != 0.3), which must not decide a verdict."""
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _pairwise_margin(voters: list[tuple[VoteFacts, str]], winner: str) -> float:
    """Weighted mean signed strength toward the winner: a/b votes weigh their strength (1 if
    unset); a soft label p toward the winner weighs (2p - 1) times its strength."""
    if not voters:  # an adjudicated verdict with no votes behind it
        return EDIT_MARGIN
    total = weight = 0
    for vote, label in voters:
        weight += vote.weight
        if vote.share_a is not None:
            toward = vote.share_a if winner == A else 1 - vote.share_a
            total += vote.weight * (vote.strength or 1) * (2 * toward - 1)
        elif label == winner:
            total += vote.weight * (vote.strength or 1)
        elif label == A or label == B:
            total -= vote.weight * (vote.strength or 1)
    return total / weight


def _ranking(
    item_ids: Sequence[int],
    votes: Sequence[VoteFacts],
    rules: Rules,
    counts: Counter,
    outcome: Outcome,
) -> None:
    tiers_per_vote = [(_tier_of(v.ranking), v.weight) for v in votes if v.ranking]
    if not tiers_per_vote:
        return
    for first, second in combinations(item_ids, 2):
        first_wins = second_wins = ranked_both = 0
        for tier_of, weight in tiers_per_vote:
            t1, t2 = tier_of.get(first), tier_of.get(second)
            if t1 is None or t2 is None:
                continue
            ranked_both += weight
            if t1 < t2:
                first_wins += weight
            elif t2 < t1:
                second_wins += weight
        if not ranked_both:
            continue
        if _same(first_wins, second_wins):
            if first_wins:
                counts["dropped_split"] += 1
            elif rules.keep_ties:
                outcome.pairs += [
                    Pair(first, second, 0.0, FROM_TIE),
                    Pair(second, first, 0.0, FROM_TIE),
                ]
            else:
                counts["dropped_ties"] += 1
            continue
        top = max(first_wins, second_wins)
        if top / ranked_both < rules.min_agreement:
            counts["dropped_low_agreement"] += 1
            continue
        winner, loser = (first, second) if first_wins > second_wins else (second, first)
        margin = abs(first_wins - second_wins) / ranked_both
        outcome.pairs.append(Pair(winner, loser, margin, FROM_RANKING))


def _tier_of(ranking: Sequence[Sequence[int]]) -> dict[int, int]:
    return {rid: t for t, tier in enumerate(ranking) for rid in tier}


def _edits(item_ids: Sequence[int], votes: Sequence[VoteFacts], outcome: Outcome) -> None:
    """A rater's rewrite beats every response it was written against (edited > chosen > rejected).

    An "edit" identical to one of the compared responses adds nothing and is ignored. Edits go
    in response id order, so the output does not depend on the order votes were read in.
    """
    edits = {v.edited_id for v in votes if v.edited_id is not None} - set(item_ids)
    for edited in sorted(edits):
        outcome.pairs += [Pair(edited, rid, EDIT_MARGIN, FROM_EDIT) for rid in item_ids]


class PromptTally:
    """Every pair and both-bad mark gathered over one prompt's comparisons, deduplicated."""

    __slots__ = ("pairs", "bad", "_seen")

    def __init__(self) -> None:
        self.pairs: list[Pair] = []
        self.bad: list[int] = []
        # Built on the second comparison only: one comparison's pairs never repeat, and most
        # prompts have a single comparison.
        self._seen: set[tuple[int, int]] | None = None

    def add(self, outcome: Outcome, counts: Counter) -> None:
        # One comparison's pairs never repeat each other, so the first needs no checking.
        new = self._unseen(outcome.pairs, counts) if self.pairs else outcome.pairs
        for pair in new:
            counts[_SOURCE_COUNT[pair.source]] += 1
        self.pairs += new
        self.bad += outcome.bad

    def _unseen(self, pairs: list[Pair], counts: Counter) -> list[Pair]:
        if self._seen is None:
            self._seen = {(p.chosen, p.rejected) for p in self.pairs}
        new = []
        for pair in pairs:
            key = (pair.chosen, pair.rejected)
            if key in self._seen:
                counts["duplicate_pairs"] += 1
            else:
                self._seen.add(key)
                new.append(pair)
        return new

    @property
    def edited(self) -> set[int]:
        """Responses that are raters' rewrites."""
        return {p.chosen for p in self.pairs if p.source == FROM_EDIT}

    def response_scores(self) -> dict[int, list[int]]:
        """{response id: [wins, losses]} over strict pairs; both-bad marks count as losses."""
        scores: dict[int, list[int]] = {}
        for pair in self.pairs:
            if not pair.strict:
                continue
            scores.setdefault(pair.chosen, [0, 0])[0] += 1
            scores.setdefault(pair.rejected, [0, 0])[1] += 1
        for rid in self.bad:
            scores.setdefault(rid, [0, 0])[1] += 1
        return scores

    def kto_labels(self, counts: Counter) -> list[tuple[int, bool]]:
        """Desirable when a response wins more of its pairs than it loses, undesirable when it
        loses more; a response with as many wins as losses says nothing and is dropped."""
        labels = []
        for rid, (wins, losses) in self.response_scores().items():
            if wins == losses:
                counts["dropped_balanced"] += 1
            else:
                labels.append((rid, wins > losses))
        return labels

    def sft_winners(self) -> list[int]:
        """Responses that win at least one pair and lose none: edits, when there are any, since
        an edit beats the responses it was written against."""
        return [
            rid for rid, (wins, losses) in self.response_scores().items() if wins and not losses
        ]
