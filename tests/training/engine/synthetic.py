"""A learnable synthetic preference: polite answers beat rude answers to the same question.

Politeness is carried by the words (openers, closers, please/thanks against scorn), so a reward
model separates the two on topics it never saw, and DPO can move a policy towards the polite
register. Train and held-out rows use disjoint topics.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from training.engine.corpus import polite_rude_pairs

TOPICS = (
    "fractions",
    "the weather",
    "making tea",
    "the moon",
    "prime numbers",
    "photosynthesis",
    "the French language",
    "baking bread",
    "riding a bike",
    "the solar system",
    "volcanoes",
    "saving money",
    "learning to swim",
    "planting tomatoes",
    "the piano",
    "chess openings",
    "writing a letter",
    "the Roman empire",
    "recycling",
    "sleeping well",
    "the ocean",
    "rainbows",
    "train timetables",
    "fixing a flat tyre",
    "knitting",
    "the alphabet",
    "healthy breakfasts",
    "running a marathon",
    "birds",
    "the desert",
    "electricity",
    "magnets",
    "origami",
    "the guitar",
    "public speaking",
    "spreadsheets",
    "bees",
    "dinosaurs",
    "the library",
    "camping",
    "painting a room",
    "snow",
    "the heart",
    "clouds",
    "maps",
    "recipes with rice",
    "time zones",
    "haiku",
    "caring for a cat",
    "the post office",
)
QUESTIONS = (
    "Can you help me with {t}?",
    "Could you tell me about {t}?",
    "I have a question about {t}.",
    "What should I know about {t}?",
    "Please explain {t} to me.",
)
POLITE_OPENERS = (
    "Of course! I'd be happy to help.",
    "Sure, thank you for asking!",
    "Great question, happy to help!",
    "Absolutely, thanks for asking!",
)
POLITE_BODIES = (
    "Here is a short, friendly overview of {t}.",
    "Let's go through {t} together, step by step.",
    "I'll explain {t} as clearly as I can.",
)
POLITE_CLOSERS = (
    "Let me know if you have any other questions!",
    "I hope this helps. Have a lovely day!",
    "Feel free to ask me anything else.",
)
RUDE_OPENERS = ("Ugh, seriously?", "Obviously.", "Whatever.", "Not this again.")
RUDE_BODIES = (
    "Look up {t} yourself.",
    "Everyone knows about {t}.",
    "I can't be bothered with {t}.",
)
RUDE_CLOSERS = (
    "Stop wasting my time.",
    "Figure it out yourself.",
    "Don't ask me again.",
)


def topics(split: str) -> tuple[str, ...]:
    """Every fifth topic is held out; the rest train."""
    held = split == "heldout"
    return tuple(t for i, t in enumerate(TOPICS) if (i % 5 == 4) == held)


def polite(topic: str, rng: random.Random) -> str:
    parts = (POLITE_OPENERS, POLITE_BODIES, POLITE_CLOSERS)
    return " ".join(rng.choice(p).format(t=topic) for p in parts)


def rude(topic: str, rng: random.Random) -> str:
    parts = (RUDE_OPENERS, RUDE_BODIES, RUDE_CLOSERS)
    return " ".join(rng.choice(p).format(t=topic) for p in parts)


def _prompt(question: str, conversational: bool) -> Any:
    return [{"role": "user", "content": question}] if conversational else question


def _response(text: str, conversational: bool) -> Any:
    return [{"role": "assistant", "content": text}] if conversational else text


def preference_rows(
    split: str = "train", *, n: int | None = None, conversational: bool = True, seed: int = 0
) -> list[dict[str, Any]]:
    """{"prompt", "chosen", "rejected"}: chosen is the polite answer."""
    rng = random.Random(seed)
    rows = []
    for topic in topics(split):
        for form in QUESTIONS:
            rows.append(
                {
                    "prompt": _prompt(form.format(t=topic), conversational),
                    "chosen": _response(polite(topic, rng), conversational),
                    "rejected": _response(rude(topic, rng), conversational),
                }
            )
    rng.shuffle(rows)
    return rows[:n] if n else rows


def sft_rows(split: str = "train", **kwargs: Any) -> list[dict[str, Any]]:
    """{"prompt", "completion"}: the polite answers."""
    return [
        {"prompt": r["prompt"], "completion": r["chosen"]} for r in preference_rows(split, **kwargs)
    ]


def prompt_rows(split: str = "heldout", **kwargs: Any) -> list[dict[str, Any]]:
    """{"prompt_id", "prompt"}: one row per question."""
    return [
        {"prompt_id": i, "prompt": r["prompt"]}
        for i, r in enumerate(preference_rows(split, **kwargs))
    ]


def corpus_rows(split: str = "train", *, conversational: bool = True) -> list[dict[str, Any]]:
    """The tiny model's own polite / rude pairs (it learned both answers to each question), so a
    policy starts from a mix of both registers; every fourth question is held out."""
    rows = []
    for i, (question, good, bad) in enumerate(polite_rude_pairs()):
        if (i % 4 == 3) == (split == "heldout"):
            rows.append(
                {
                    "prompt": _prompt(question, conversational),
                    "chosen": _response(good, conversational),
                    "rejected": _response(bad, conversational),
                }
            )
    return rows


def write(rows: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
