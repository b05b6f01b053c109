"""How the review pages name responses and verdicts.

Reviewers name responses by canonical position, as votes do: "A" is position 0 (`Choice.A`),
"B" position 1, and so on, whatever order a rater saw them in.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from annotate.models import Adjudication, Choice, Response, Strength, Vote

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CHOICE_WORDS = {
    Choice.A: "A better",
    Choice.B: "B better",
    Choice.TIE: "Tie",
    "both_bad": "Both bad",
}


@dataclass(frozen=True)
class Entry:
    """A response as the reviewer names it: its canonical letter and the response."""

    label: str
    response: Response


def verdict_key(vote: Vote | Adjudication) -> str:
    """Equal verdicts, equal keys: a ranking's ties are unordered."""
    if vote.choice:
        return vote.choice
    tiers = [sorted(t if isinstance(t, list) else [t]) for t in vote.ranking or []]
    return json.dumps(tiers)


def agreement_of(keys: list[str]) -> float:
    if not keys:
        return 1.0
    return Counter(keys).most_common(1)[0][1] / len(keys)


def majority_of(keys: list[str]) -> str | None:
    """The verdict most raters gave; None on a split (1-1, 2-2-1...)."""
    top = Counter(keys).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def tiers_of(ranking: list, by_id: dict[int, Entry]) -> list[list[Entry]]:
    tiers = []
    for tier in ranking:
        ids = tier if isinstance(tier, list) else [tier]
        tiers.append([by_id[rid] for rid in ids if rid in by_id])
    return [t for t in tiers if t]


def readable(vote: Vote | Adjudication, by_id: dict[int, Entry] | None = None) -> str:
    if vote.choice:
        words = CHOICE_WORDS.get(vote.choice, vote.choice)
        strength = getattr(vote, "strength", None)
        return f"{words} ({Strength(strength).label.lower()})" if strength else words
    if by_id is None:
        return "ranking"
    return " > ".join(
        " = ".join(e.label for e in tier) for tier in tiers_of(vote.ranking or [], by_id)
    )
