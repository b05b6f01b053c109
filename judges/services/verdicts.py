"""From answers to a vote: both orders combined, position consistency, preference probability.

Positions here are canonical (0 = ComparisonItem position 0 = vote choice "a"); `shown` lists the
canonical positions in the order the judge saw them, so label "A" of an answer means shown[0].
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from judges.services.parsing import Parsed


@dataclass
class Ask:
    """One question to the judge: a comparison's responses in one order (or one response)."""

    comparison_id: int
    shown: list[int]
    mode: str
    messages: list[dict[str, str]] = field(default_factory=list)
    key: str = ""

    @property
    def n(self) -> int:
        return len(self.shown)


@dataclass
class Answer:
    """What came back for one Ask: a parsed verdict, or a recorded failure (never a vote)."""

    ok: bool
    text: str = ""
    parsed: Parsed | None = None
    distribution: dict[str, float] | None = None
    raw_outputs: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    attempts: int = 0
    error_kind: str = ""  # "unparseable" or "error"
    error: str = ""
    cached: bool = False
    rewards: list[float] | None = None  # reward-model judges: one score per response

    def to_cache(self) -> dict[str, Any]:
        parsed = self.parsed
        return {
            "text": self.text,
            "label": parsed.label if parsed else None,
            "tiers": parsed.tiers if parsed else None,
            "score": parsed.score if parsed else None,
            "offset": parsed.offset if parsed else None,
            "distribution": self.distribution,
            "raw_outputs": self.raw_outputs,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "latency_ms": self.latency_ms,
            "attempts": self.attempts,
            "rewards": self.rewards,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> Answer:
        return cls(
            ok=True,
            text=data.get("text", ""),
            parsed=Parsed(
                label=data.get("label"),
                tiers=data.get("tiers"),
                score=data.get("score"),
                offset=data.get("offset"),
            ),
            distribution=data.get("distribution"),
            raw_outputs=list(data.get("raw_outputs") or []),
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cost=float(data.get("cost") or 0.0),
            latency_ms=float(data.get("latency_ms") or 0.0),
            attempts=int(data.get("attempts") or 0),
            rewards=data.get("rewards"),
            cached=True,
        )


@dataclass
class Verdict:
    """The vote a comparison gets: canonical choice or ranking, probability, provenance."""

    choice: str = ""
    ranking: list[list[int]] | None = None
    preference_probability: float | None = None
    consistent: bool | None = None
    confidence: float | None = None
    policy_applied: str | None = None
    rationale: str = ""
    orders: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tokens(self) -> tuple[int, int]:
        return (
            sum(o["prompt_tokens"] for o in self.orders),
            sum(o["completion_tokens"] for o in self.orders),
        )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _p_first(answer: Answer) -> float:
    """P(the first response shown is better), ties counting half."""
    dist = answer.distribution
    if dist:
        a, b, c = dist.get("A", 0.0), dist.get("B", 0.0), dist.get("C", 0.0)
        total = a + b + c
        if total > 0:
            return (a + 0.5 * c) / total
    return {"A": 1.0, "B": 0.0, "C": 0.5}[answer.parsed.label]


def _label_confidence(answer: Answer) -> float:
    dist = answer.distribution
    return dist.get(answer.parsed.label, 0.0) if dist else 1.0


def _canonical_label(label: str, shown: list[int]) -> str:
    if label == "C":
        return "tie"
    first = shown[0] if label == "A" else shown[1]
    return "a" if first == 0 else "b"


def _rationale(answer: Answer) -> str:
    if answer.parsed is None or answer.parsed.offset is None:
        return ""
    head = answer.text[: answer.parsed.offset]
    head = head.rstrip(" \t\n[*\"'(:").removesuffix("[[").rstrip()
    for tail in ("Verdict", "verdict", "Final verdict", "Ranking", "Score", "Rating"):
        head = head.removesuffix(tail).rstrip(" :\n")
    return head.strip()


def _order_record(ask: Ask, answer: Answer, response_ids: list[int], **extra) -> dict[str, Any]:
    return {
        "shown": [response_ids[i] for i in ask.shown],
        "raw_output": answer.text,
        "attempts": answer.attempts,
        "distribution": answer.distribution,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "cost": answer.cost,
        "latency_ms": round(answer.latency_ms, 1),
        "cached": answer.cached,
        **extra,
    }


def combine_pairwise(
    asks: list[Ask], answers: list[Answer], response_ids: list[int], policy: str
) -> Verdict:
    orders, labels, probs, confidences, rationales = [], [], [], [], []
    for ask, answer in zip(asks, answers, strict=True):
        p_first = _p_first(answer)
        p_a = p_first if ask.shown[0] == 0 else 1.0 - p_first
        label = _canonical_label(answer.parsed.label, ask.shown)
        labels.append(label)
        probs.append(p_a)
        confidences.append(_label_confidence(answer))
        orders.append(_order_record(ask, answer, response_ids, verdict=label, p_a=round(p_a, 6)))
        if text := _rationale(answer):
            shown = "/".join("AB"[i] for i in ask.shown)
            rationales.append(f"[shown as {shown}] {text}")
    p = sum(probs) / len(probs)
    consistent = len(set(labels)) == 1
    verdict = Verdict(orders=orders, rationale="\n\n".join(rationales))
    if len(asks) == 1 or consistent:
        verdict.choice = labels[0]
        verdict.consistent = consistent if len(asks) > 1 else None
        verdict.preference_probability = p
        verdict.confidence = sum(confidences) / len(confidences)
    elif policy == "soft":
        verdict.choice = "a" if p > 0.5 else "b" if p < 0.5 else "tie"
        verdict.consistent, verdict.policy_applied = False, "soft"
        verdict.preference_probability, verdict.confidence = p, max(p, 1.0 - p)
    else:
        verdict.choice = "tie"
        verdict.consistent, verdict.policy_applied = False, "tie"
        verdict.preference_probability, verdict.confidence = 0.5, 0.5
    return verdict


def _canonical_tiers(tiers: list[list[int]], shown: list[int], ids: list[int]) -> list[list[int]]:
    return [sorted(ids[shown[i]] for i in tier) for tier in tiers]


def tiers_from_scores(scores: dict[int, float]) -> list[list[int]]:
    """Tiers of keys, highest score first; equal scores share a tier."""
    groups: dict[float, list[int]] = defaultdict(list)
    for key, value in scores.items():
        groups[round(value, 9)].append(key)
    return [sorted(groups[v]) for v in sorted(groups, reverse=True)]


def combine_ranking(
    asks: list[Ask], answers: list[Answer], response_ids: list[int], policy: str
) -> Verdict:
    orders, rankings = [], []
    for ask, answer in zip(asks, answers, strict=True):
        tiers = _canonical_tiers(answer.parsed.tiers, ask.shown, response_ids)
        rankings.append(tiers)
        orders.append(_order_record(ask, answer, response_ids, ranking=tiers))
    consistent = all(r == rankings[0] for r in rankings)
    verdict = Verdict(orders=orders, consistent=consistent if len(asks) > 1 else None)
    rationale = [t for t in (_rationale(a) for a in answers) if t]
    verdict.rationale = "\n\n".join(rationale)
    if consistent:
        verdict.ranking, verdict.confidence = rankings[0], 1.0
    elif policy == "soft":
        mean_rank = {
            rid: sum(_rank_of(rid, r) for r in rankings) / len(rankings) for rid in response_ids
        }
        verdict.ranking = tiers_from_scores({rid: -rank for rid, rank in mean_rank.items()})
        verdict.policy_applied, verdict.confidence = "soft", 0.5
    else:
        verdict.ranking = [sorted(response_ids)]
        verdict.policy_applied, verdict.confidence = "tie", 0.5
    _pairwise_from_ranking(verdict, response_ids)
    return verdict


def _rank_of(response_id: int, tiers: list[list[int]]) -> int:
    return next(i for i, tier in enumerate(tiers) if response_id in tier)


def _pairwise_from_ranking(verdict: Verdict, response_ids: list[int]) -> None:
    if len(response_ids) != 2 or verdict.ranking is None:
        return
    if len(verdict.ranking) == 1:
        verdict.choice, verdict.preference_probability = "tie", 0.5
    else:
        a_first = verdict.ranking[0] == [response_ids[0]]
        verdict.choice = "a" if a_first else "b"
        verdict.preference_probability = 1.0 if a_first else 0.0
    verdict.ranking = None


def _expected_score(answer: Answer) -> float:
    dist = answer.distribution
    if dist:
        return sum(int(k) * p for k, p in dist.items())
    return float(answer.parsed.score)


def combine_scores(asks: list[Ask], answers: list[Answer], response_ids: list[int]) -> Verdict:
    """Single-answer grading: one ask per response, no order to be inconsistent about."""
    scores: dict[int, float] = {}
    orders = []
    for ask, answer in zip(asks, answers, strict=True):
        score = _expected_score(answer)
        scores[ask.shown[0]] = score
        orders.append(_order_record(ask, answer, response_ids, score=round(score, 4)))
    rationale = [t for t in (_rationale(a) for a in answers) if t]
    return _from_values(scores, response_ids, orders, "\n\n".join(rationale))


def combine_rewards(ask: Ask, answer: Answer, response_ids: list[int]) -> Verdict:
    """A reward model scores each response on its own: Bradley-Terry on the reward gap."""
    scores = dict(enumerate(answer.rewards or []))
    order = _order_record(ask, answer, response_ids, rewards=answer.rewards)
    return _from_values(scores, response_ids, [order], "")


def _from_values(
    scores: dict[int, float], response_ids: list[int], orders: list[dict], rationale: str
) -> Verdict:
    verdict = Verdict(orders=orders, rationale=rationale, consistent=None)
    if len(response_ids) == 2:
        p = sigmoid(scores[0] - scores[1])
        verdict.preference_probability = p
        verdict.choice = "a" if scores[0] > scores[1] else "b" if scores[1] > scores[0] else "tie"
        verdict.confidence = max(p, 1.0 - p)
    else:
        verdict.ranking = tiers_from_scores({response_ids[i]: s for i, s in scores.items()})
        verdict.confidence = 1.0
    return verdict
