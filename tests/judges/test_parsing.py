"""Verdict parsing, logprob probabilities and the combination of both orders (no server)."""

from __future__ import annotations

import math

import pytest

from judges.services.parsing import (
    ParseError,
    answer_distribution,
    parse_pairwise,
    parse_ranking,
    parse_score,
)
from judges.services.verdicts import Answer, Ask, combine_pairwise, combine_ranking


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("A", "A"),
        (" B\n", "B"),
        ("**C**", "C"),
        ("[[A]]", "A"),
        ("Response A is clearer but B is right.\n\nVerdict: [[B]]", "B"),
        ('Format: "[[A]]" if A is better...\nI pick [[B]]', "B"),
        ('{"verdict": "A", "reason": "shorter"}', "A"),
        ("Final verdict: tie", "C"),
        ("After weighing both, Response B is better.", "B"),
        ("I think it is a close call.\nA", "A"),
    ],
)
def test_pairwise_verdicts_are_read_from_many_shapes(text: str, label: str) -> None:
    assert parse_pairwise(text).label == label


@pytest.mark.parametrize(
    "text",
    ["", "   ", "I cannot decide.", "Both answers are a mixed bag", "[[D]]", "a"],
)
def test_unreadable_pairwise_outputs_raise_instead_of_guessing(text: str) -> None:
    with pytest.raises(ParseError):
        parse_pairwise(text)


def test_ranking_is_read_in_tiers_and_must_name_every_response_once() -> None:
    assert parse_ranking("Reasoning...\n[[C > A = B]]", 3).tiers == [[2], [0, 1]]
    assert parse_ranking("B > A > C", 3).tiers == [[1], [0], [2]]
    with pytest.raises(ParseError, match="exactly once"):
        parse_ranking("[[A > B]]", 3)
    with pytest.raises(ParseError, match="other than"):
        parse_ranking("[[A > D > B]]", 3)


def test_scores_are_read_and_range_checked() -> None:
    assert parse_score("Good answer. [[8]]").score == 8
    assert parse_score("Rating: 7/10").score == 7
    with pytest.raises(ParseError, match="outside"):
        parse_score("[[42]]")


def _content(tokens: list[tuple[str, dict[str, float]]]) -> list[dict]:
    return [
        {
            "token": token,
            "logprob": math.log(top.get(token, 1.0)),
            "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top.items()],
        }
        for token, top in tokens
    ]


def test_probability_is_a_softmax_over_the_answer_tokens_at_the_verdict() -> None:
    text = "Because... [[B]]"
    content = _content(
        [
            ("Because", {}),
            ("...", {}),
            (" ", {}),
            ("[[", {}),
            ("B", {"B": 0.6, "A": 0.3, "x": 0.1}),
            ("]]", {}),
        ]
    )
    parsed = parse_pairwise(text)
    dist = answer_distribution(content, text, parsed, "pairwise")
    assert dist == pytest.approx({"B": 0.6 / 0.9, "A": 0.3 / 0.9})


def _answer(label: str, dist: dict[str, float] | None = None) -> Answer:
    from judges.services.parsing import Parsed

    return Answer(ok=True, text=label, parsed=Parsed(label=label, offset=0), distribution=dist)


def test_both_orders_agreeing_give_their_verdict_and_mean_probability() -> None:
    asks = [Ask(1, [0, 1], "pairwise"), Ask(1, [1, 0], "pairwise")]
    # Shown A/B the judge prefers A (= canonical a); shown B/A it prefers B (= canonical a).
    verdict = combine_pairwise(
        asks,
        [_answer("A", {"A": 0.9, "B": 0.1}), _answer("B", {"A": 0.3, "B": 0.7})],
        [10, 11],
        "tie",
    )
    assert verdict.choice == "a" and verdict.consistent is True
    assert verdict.preference_probability == pytest.approx((0.9 + 0.7) / 2)
    assert verdict.confidence == pytest.approx(0.8)


def test_position_bias_becomes_a_tie_or_a_soft_label() -> None:
    asks = [Ask(1, [0, 1], "pairwise"), Ask(1, [1, 0], "pairwise")]
    answers = [_answer("A", {"A": 0.9, "B": 0.1}), _answer("A", {"A": 0.6, "B": 0.4})]
    tie = combine_pairwise(asks, answers, [10, 11], "tie")
    assert (tie.choice, tie.consistent, tie.preference_probability) == ("tie", False, 0.5)
    soft = combine_pairwise(asks, answers, [10, 11], "soft")
    assert soft.consistent is False and soft.policy_applied == "soft"
    assert soft.preference_probability == pytest.approx((0.9 + 0.4) / 2)
    assert soft.choice == "a"


def test_ranking_orders_map_back_to_canonical_response_ids() -> None:
    asks = [Ask(1, [0, 1, 2], "ranking"), Ask(1, [2, 1, 0], "ranking")]
    from judges.services.parsing import Parsed

    forward = Answer(ok=True, text="", parsed=Parsed(tiers=[[1], [0], [2]]))  # 11 > 10 > 12
    backward = Answer(ok=True, text="", parsed=Parsed(tiers=[[1], [2], [0]]))  # shown 12,11,10
    verdict = combine_ranking(asks, [forward, backward], [10, 11, 12], "tie")
    assert verdict.consistent is True and verdict.ranking == [[11], [10], [12]]
