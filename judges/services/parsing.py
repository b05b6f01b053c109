"""Reading verdicts out of judge outputs, and answer probabilities out of their logprobs.

Parsers take the model's text and return a verdict in the labels shown (A, B, C...), with the
character offset of the deciding token so `answer_distribution` can find its logprobs. Anything
they cannot read confidently raises ParseError: a guess would be a silent wrong vote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from judges.services.prompts import SCORE_MAX, SCORE_MIN, labels_for


class ParseError(ValueError):
    """The output holds no verdict we can read."""


@dataclass(frozen=True)
class Parsed:
    """A verdict in shown labels: "A"/"B"/"C" (tie), tiers of shown indices, or a score."""

    label: str | None = None
    tiers: list[list[int]] | None = None
    score: float | None = None
    offset: int | None = None
    """Where the deciding token starts in the text (for logprobs); None when there is none."""


_LABEL = r"(A|B|C|[Tt]ie|TIE)"
_PAIRWISE_PATTERNS = [
    re.compile(r"\[\[\s*" + _LABEL + r"\s*\]\]"),
    re.compile(r"\"(?:verdict|winner|choice|answer)\"\s*:\s*\"" + _LABEL + r"\""),
    re.compile(
        r"(?i:final\s+verdict|verdict|winner|decision|my\s+choice|answer)\s*(?:is)?\s*[:=\-]?\s*"
        r"[*\"'(]*\s*(?i:response|assistant|answer|output)?\s*" + _LABEL + r"\b"
    ),
    re.compile(
        r"(?i:response|assistant|answer|output)\s+"
        + r"(A|B)"
        + r"\s+(?i:is\s+(?:clearly\s+|much\s+|slightly\s+)?(?:better|preferred|superior|stronger))"
    ),
]
_BARE_LABEL = re.compile(r"^[\s*\"'(\[]*" + _LABEL + r"[\s*\"').\]]*$")


def parse_pairwise(text: str) -> Parsed:
    """ "A", "B" or "C" (tie) from "[[A]]", "Verdict: B", '{"verdict": "C"}', a bare "A"..."""
    if not text or not text.strip():
        raise ParseError("empty output")
    bare = _BARE_LABEL.match(text)
    if bare:
        return Parsed(label=_norm(bare.group(1)), offset=bare.start(1))
    for pattern in _PAIRWISE_PATTERNS:
        matches = list(pattern.finditer(text))
        if matches:
            last = matches[-1]
            return Parsed(label=_norm(last.group(1)), offset=last.start(1))
    last_line = text.strip().splitlines()[-1]
    bare = _BARE_LABEL.match(last_line)
    if bare:
        return Parsed(label=_norm(bare.group(1)), offset=text.rfind(last_line) + bare.start(1))
    raise ParseError(f"no verdict ([[A]], [[B]] or [[C]]) in: {_clip(text)}")


def _norm(label: str) -> str:
    return "C" if label.lower() == "tie" else label


_RANKING_BRACKETS = re.compile(r"\[\[([^\[\]]+)\]\]")
_RANKING_LINE = re.compile(r"([A-Z](?:\s*(?:>|=|>=)\s*[A-Z])+)\s*\.?\s*$", re.MULTILINE)


def parse_ranking(text: str, n: int) -> Parsed:
    """Tiers of shown indices, best first, from "[[B > A = C]]" (or a last "B > A = C" line)."""
    if not text or not text.strip():
        raise ParseError("empty output")
    matches = list(_RANKING_BRACKETS.finditer(text)) or list(_RANKING_LINE.finditer(text))
    if not matches:
        raise ParseError(f"no ranking like [[B > A]] in: {_clip(text)}")
    body = matches[-1].group(1)
    letters = labels_for(n)
    tiers: list[list[int]] = []
    for tier in re.split(r">=?", body):
        names = [x.strip().strip("*").strip() for x in tier.split("=")]
        if any(name not in letters for name in names):
            raise ParseError(f"ranking {body!r} names a response other than {letters}")
        tiers.append([letters.index(name) for name in names])
    flat = sorted(i for tier in tiers for i in tier)
    if flat != list(range(n)):
        raise ParseError(f"ranking {body!r} must list each of {letters} exactly once")
    return Parsed(tiers=tiers, offset=matches[-1].start(1))


_SCORE_PATTERNS = [
    re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*\]\]"),
    re.compile(r"(?i:score|rating)\s*(?:is)?\s*[:=\-]?\s*\**\s*(\d+(?:\.\d+)?)"),
    re.compile(r"^\s*\**(\d+(?:\.\d+)?)\**\s*(?:/\s*10)?\s*\.?\s*$"),
]


def parse_score(text: str) -> Parsed:
    """A score in [SCORE_MIN, SCORE_MAX] from "[[7]]", "Rating: 7/10" or a bare "7"."""
    if not text or not text.strip():
        raise ParseError("empty output")
    for pattern in _SCORE_PATTERNS:
        matches = list(pattern.finditer(text))
        if matches:
            last = matches[-1]
            value = float(last.group(1))
            if not SCORE_MIN <= value <= SCORE_MAX:
                raise ParseError(f"score {value:g} is outside {SCORE_MIN}-{SCORE_MAX}")
            return Parsed(score=value, offset=last.start(1))
    raise ParseError(f"no score like [[7]] in: {_clip(text)}")


def parse(mode: str, text: str, n: int) -> Parsed:
    if mode == "pairwise":
        return parse_pairwise(text)
    if mode == "ranking":
        return parse_ranking(text, n)
    return parse_score(text)


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]


# -- logprobs ---------------------------------------------------------------------------------

_STRIP = " \t\n\r[]*\"'()."


def _field(entry: Any, name: str) -> Any:
    """A logprob entry's field, whether the entry is a dict or the openai client's model."""
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


def token_at(content: Sequence[Any], text: str, offset: int) -> Any | None:
    """The logprob entry of the token covering character `offset` of `text`, when they line up."""
    position = 0
    for entry in content:
        token = _field(entry, "token") or ""
        if position <= offset < position + len(token):
            return entry
        position += len(token)
    return None


def answer_distribution(
    content: Sequence[Any] | None, text: str, parsed: Parsed, mode: str
) -> dict[str, float] | None:
    """Softmax over the answer tokens among the deciding token's top logprobs.

    pairwise: {"A": p, "B": p, "C": p} (labels missing from the top list get 0);
    score: {"1": p, ..., "10": p}. None when logprobs are absent or do not line up.
    """
    if not content or parsed.offset is None or mode == "ranking":
        return None
    entry = token_at(content, text, parsed.offset)
    if entry is None:
        return None
    options = _field(entry, "top_logprobs") or [entry]
    if mode == "pairwise":
        valid = {"A": "A", "B": "B", "C": "C", "TIE": "C"}
    else:
        if (_field(entry, "token") or "").strip(_STRIP) != f"{parsed.score:g}":
            return None  # a multi-token number: the single token's alternatives mean nothing
        valid = {str(v): str(v) for v in range(SCORE_MIN, SCORE_MAX + 1)}
    weights: dict[str, float] = {}
    for option in options:
        name = valid.get((_field(option, "token") or "").strip(_STRIP).upper())
        logprob = _field(option, "logprob")
        if name is not None and logprob is not None:
            weights[name] = weights.get(name, 0.0) + math.exp(float(logprob))
    total = sum(weights.values())
    if total <= 0:
        return None
    return {name: weight / total for name, weight in weights.items()}
