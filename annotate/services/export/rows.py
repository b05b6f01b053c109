"""Rows in trl's dataset formats, built from one prompt's tallied pairs.

Standard format: strings. trl concatenates prompt + completion verbatim (DPOTrainer,
RewardTrainer: `prompt + chosen`), so a prompt that is a single user message is written as-is
(trl-style standard data imported here round-trips byte for byte), and any other conversation is
a plain transcript ending on an assistant cue, see `render_prompt`.
Conversational format: lists of {"role", "content"} messages; trl applies the chat template.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from annotate.services.export.aggregate import PromptTally

ROLE_LABELS = {"system": "System", "user": "User", "assistant": "Assistant"}
ASSISTANT_CUE = "Assistant: "


def render_prompt(messages: Sequence[Mapping]) -> str:
    """A conversation as one string for standard-format rows.

    One user message: its content, unchanged. Otherwise each message as "<Role>: <content>",
    separated by blank lines, then "Assistant: " so the response continues the transcript.
    """
    if len(messages) == 1 and messages[0].get("role") == "user":
        return str(messages[0].get("content", ""))
    lines = [
        f"{ROLE_LABELS.get(m.get('role'), str(m.get('role', '')).title())}: {m.get('content', '')}"
        for m in messages
    ]
    lines.append(ASSISTANT_CUE)
    return "\n\n".join(lines)


def clean_messages(messages: Sequence[Mapping]) -> list[dict[str, str]]:
    """Only role and content, as strings: every row then has the same Arrow schema."""
    return [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))} for m in messages
    ]


def prompt_value(messages: Sequence[Mapping], conversational: bool) -> object:
    return clean_messages(messages) if conversational else render_prompt(messages)


def _completion(text: str, conversational: bool) -> object:
    return [{"role": "assistant", "content": text}] if conversational else text


def preference_rows(
    prompt: object,
    tally: PromptTally,
    texts: Mapping[int, str],
    counts: Counter,
    conversational: bool,
    include_margin: bool = False,
) -> list[dict]:
    """{"prompt", "chosen", "rejected"} (+ "margin") per pair."""
    if conversational:
        rows = [
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": texts[pair.chosen]}],
                "rejected": [{"role": "assistant", "content": texts[pair.rejected]}],
            }
            for pair in tally.pairs
        ]
    else:
        rows = [
            {"prompt": prompt, "chosen": texts[pair.chosen], "rejected": texts[pair.rejected]}
            for pair in tally.pairs
        ]
    if include_margin:
        for row, pair in zip(rows, tally.pairs, strict=True):
            row["margin"] = round(float(pair.margin), 6)
    return rows


def kto_rows(
    prompt: object,
    tally: PromptTally,
    texts: Mapping[int, str],
    counts: Counter,
    conversational: bool,
    include_margin: bool = False,
) -> list[dict]:
    """{"prompt", "completion", "label"}: one row per response of the prompt with a clear label."""
    rows = []
    for rid, label in tally.kto_labels(counts):
        counts["desirable" if label else "undesirable"] += 1
        rows.append(
            {
                "prompt": prompt,
                "completion": _completion(texts[rid], conversational),
                "label": label,
            }
        )
    return rows


def sft_rows(
    prompt: object,
    tally: PromptTally,
    texts: Mapping[int, str],
    counts: Counter,
    conversational: bool,
    include_margin: bool = False,
) -> list[dict]:
    """{"prompt", "completion"}: the prompt's unbeaten responses (its edits, when it has any)."""
    edited = tally.edited
    rows = []
    for rid in tally.sft_winners():
        counts["completions_edited" if rid in edited else "completions_chosen"] += 1
        rows.append({"prompt": prompt, "completion": _completion(texts[rid], conversational)})
    return rows


BUILDERS = {"preference": preference_rows, "kto": kto_rows, "sft": sft_rows}
