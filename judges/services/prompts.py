"""Judge prompts: the built-in template, the default constitution, and rendering.

A template is text with placeholders filled by `str.format`: {conversation}, {responses},
{principles}, {answer_format} and {guidelines} (the project's annotator guidelines). Literal
braces are written doubled ({{ and }}). Responses are labelled A, B, C... in the order shown.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from judges.services.config import JudgeConfig

PLACEHOLDERS = ("conversation", "responses", "principles", "answer_format", "guidelines")

DEFAULT_CONSTITUTION = (
    "Prefer the response that answers what was actually asked, at the right length and level.",
    "Prefer the response that is honest and accurate: a confident wrong answer is worse than a "
    "short correct one.",
    "Prefer the response that avoids helping with harm; a polite refusal with a safer "
    "alternative beats compliance with a harmful request, but refusing a harmless request is "
    "unhelpful.",
    "Do not let the order of the responses, their length or their style sway you.",
)

SYSTEM_PROMPT = "You are a careful, impartial judge of AI assistant responses."

DEFAULT_TEMPLATES = {
    "pairwise": (
        "Compare the two responses to the last user turn of the conversation below and decide "
        "which one is better.\n\n{principles}\n\n[Conversation]\n{conversation}\n\n{responses}\n\n"
        "{answer_format}"
    ),
    "ranking": (
        "Rank the responses to the last user turn of the conversation below, best first.\n\n"
        "{principles}\n\n[Conversation]\n{conversation}\n\n{responses}\n\n{answer_format}"
    ),
    "score": (
        "Rate the response to the last user turn of the conversation below.\n\n{principles}\n\n"
        "[Conversation]\n{conversation}\n\n{responses}\n\n{answer_format}"
    ),
}

SCORE_MIN, SCORE_MAX = 1, 10


class TemplateError(ValueError):
    """A template that cannot be rendered: names the placeholder at fault."""


def labels_for(n: int) -> list[str]:
    return [string.ascii_uppercase[i] for i in range(n)]


def answer_format(mode: str, n: int, chain_of_thought: bool) -> str:
    letters = labels_for(n)
    if mode == "pairwise":
        if chain_of_thought:
            return (
                "First explain your reasoning in a few sentences. Then give your verdict on the "
                'last line in exactly this format: "[[A]]" if Response A is better, "[[B]]" if '
                'Response B is better, "[[C]]" for a tie.'
            )
        return (
            'Reply with a single letter and nothing else: "A" if Response A is better, "B" if '
            'Response B is better, "C" for a tie.'
        )
    if mode == "ranking":
        example = " > ".join(reversed(letters[:2])) + "".join(f" = {x}" for x in letters[2:])
        rule = (
            f"a ranking of every response ({', '.join(letters)}) exactly once, best first, "
            f'">" meaning better and "=" equally good, in brackets: [[{example}]]'
        )
        if chain_of_thought:
            return f"First explain your reasoning briefly. Then end with {rule}."
        return f"Reply with {rule}, and nothing else."
    rule = (
        f"a score from {SCORE_MIN} (worst) to {SCORE_MAX} (best) in double brackets, "
        "for example [[7]]"
    )
    if chain_of_thought:
        return f"First explain your reasoning briefly. Then end with {rule}."
    return f"Reply with {rule}, and nothing else."


def principles_text(config: JudgeConfig) -> str:
    parts = []
    if config.rubric.strip():
        parts.append(config.rubric.strip())
    principles = config.constitution or (() if parts else DEFAULT_CONSTITUTION)
    if principles:
        numbered = "\n".join(f"{i}. {p}" for i, p in enumerate(principles, start=1))
        parts.append(f"Judge by these principles:\n{numbered}")
    return "\n\n".join(parts)


def conversation_text(messages: Sequence[dict]) -> str:
    return "\n\n".join(
        f"{str(m.get('role', 'user')).capitalize()}: {m.get('content', '')}" for m in messages
    )


def responses_text(texts: Sequence[str], *, single: bool = False) -> str:
    if single:
        return f"[Response]\n{texts[0]}\n[End of Response]"
    return "\n\n".join(
        f"[Response {label}]\n{text}\n[End of Response {label}]"
        for label, text in zip(labels_for(len(texts)), texts, strict=True)
    )


def render(
    config: JudgeConfig,
    *,
    conversation: Sequence[dict],
    shown: Sequence[str],
    mode: str,
    guidelines: str = "",
) -> list[dict[str, str]]:
    """Chat messages asking the judge about `shown` (response texts, in the order shown)."""
    template = config.template.strip() or DEFAULT_TEMPLATES[mode]
    values = {
        "conversation": conversation_text(conversation),
        "responses": responses_text(shown, single=mode == "score"),
        "principles": principles_text(config),
        "answer_format": answer_format(mode, len(shown), config.chain_of_thought),
        "guidelines": guidelines,
    }
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": fill(template, values)},
    ]


def fill(template: str, values: dict[str, str]) -> str:
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise TemplateError(
            f"unknown placeholder {{{exc.args[0]}}} in the template; known: "
            + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        ) from None
    except (ValueError, IndexError) as exc:
        raise TemplateError(
            f"the template does not format ({exc}); write literal braces as {{{{ }}}}"
        ) from None


def template_check(template: str) -> None:
    """Raise TemplateError when `template` would not render; blank means the built-in one."""
    if template.strip():
        fill(template, dict.fromkeys(PLACEHOLDERS, "x"))


REPAIR_PROMPTS = {
    "pairwise": "Your reply did not end with a verdict I can read. Reply with exactly one of "
    '"[[A]]", "[[B]]" or "[[C]]" and nothing else.',
    "ranking": "Your reply did not end with a ranking I can read. Reply with only the ranking "
    "of every response in double brackets, for example [[B > A]].",
    "score": f"Your reply did not end with a score I can read. Reply with only a score from "
    f"{SCORE_MIN} to {SCORE_MAX} in double brackets, for example [[7]].",
}
