"""An independent judge of the synthetic preference: a hand-written politeness rule.

Reward models learn "polite beats rude" from data; this rule knows it by construction (marker words
of the synthetic answers and of the tiny model's corpus), so it can judge a trained policy without
sharing the reward model's blind spots. Served behind the fake OpenAI-compatible endpoint
(tests/judges/fake_openai.py), it reaches the platform as any LLM judge does: through the `openai`
client, the judges app's prompts, parsing, both orders and votes.
"""

from __future__ import annotations

import re

from tests.judges.fake_openai import FakeRequest, Reply

POLITE = (
    "of course",
    "happy to",
    "happy to help",
    "thank",
    "thanks",
    "please",
    "great question",
    "absolutely",
    "sure",
    "no problem",
    "no worries",
    "let me know",
    "hope this helps",
    "lovely",
    "feel free",
    "together",
    "friendly",
    "glad",
)
RUDE = (
    "ugh",
    "seriously",
    "whatever",
    "obviously",
    "not this again",
    "yourself",
    "everyone knows",
    "can't be bothered",
    "stop wasting",
    "waste my time",
    "don't ask",
    "try harder",
    "pay attention",
    "typical",
    "how would i know",
    "not your",
)
_WORD_EDGE = r"(?<![a-z]){}(?![a-z])"


def politeness(text: str) -> int:
    """Polite markers minus rude markers; 0 for text with neither (e.g. empty or gibberish)."""
    lowered = text.lower()
    count = lambda markers: sum(  # noqa: E731
        len(re.findall(_WORD_EDGE.format(re.escape(m)), lowered)) for m in markers
    )
    return count(POLITE) - count(RUDE)


def politeness_judge(request: FakeRequest) -> Reply:
    """[[A]], [[B]] or [[C]] (tie) for a pairwise judging prompt: the more polite answer wins.
    Asked to score one answer, [[1]] to [[10]]: 5 plus twice its politeness, clamped."""
    if len(request.shown) == 1:
        return Reply(content=f"[[{min(10, max(1, 5 + 2 * politeness(request.shown[0])))}]]")
    first, second = (politeness(text) for text in request.shown[:2])
    verdict = "A" if first > second else "B" if second > first else "C"
    return Reply(content=f"[[{verdict}]]")
