"""What scores a policy's completions during online RL: a reward model or an AI judge (RLAIF).

Both are a `Rewarder`: (prompts, completions) -> one float per completion, prompts and completions
in trl's formats (strings, or message lists). PPO, GRPO, RLOO and their held-out evaluation take
whichever the job names (`spec.reward_judge` wins over `spec.reward_model`).

The judge is any OpenAI-compatible endpoint asked through the `openai` client, one request per
completion with `concurrency` in flight; its 1-10 score is scaled to [-1, 1]. A judge that answers
without a score gets the neutral reward 0 for that completion and is counted; when more than half
of a batch cannot be read the job stops with the judge's answer, which is then misconfigured.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from training.engine.jobs import CONVERSATION_SLOT, RESPONSE_SLOT, EngineError, JobSpec, JudgeRef

Rewarder = Callable[[Sequence[Any], Sequence[Any]], list[float]]

_SCORE_PATTERNS = (
    re.compile(r"\[\[\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*\d+)?\s*\]\]"),
    re.compile(r"(?i:score|rating)\s*(?:is)?\s*[:=\-]?\s*\**\s*(-?\d+(?:\.\d+)?)"),
    re.compile(r"^\s*\**(-?\d+(?:\.\d+)?)\**\s*(?:/\s*\d+)?\s*\.?\s*$"),
)


def rewarder_for(spec: JobSpec, *, batch_size: int, max_length: int | None) -> Rewarder:
    """The job's judge when it names one, else its reward model (formatted as it was trained)."""
    if spec.reward_judge is not None:
        return JudgeRewarder(spec.reward_judge)
    if spec.reward_model is None:
        raise EngineError(
            f"A {spec.kind} job needs a reward_model or a reward_judge to score the completions."
        )
    from training.engine import reward
    from training.engine.evaluate import load_reward_model

    model, tokenizer = load_reward_model(spec.reward_model)

    def score(prompts: Sequence[Any], completions: Sequence[Any]) -> list[float]:
        return reward.score(
            model,
            tokenizer,
            list(prompts),
            list(completions),
            batch_size=batch_size,
            max_length=max_length,
        )

    return score


def parse_score(text: str) -> float | None:
    """The score in "[[7]]", "Rating: 7/10" or a bare "7"; None when there is none."""
    for pattern in _SCORE_PATTERNS:
        matches = list(pattern.finditer(text or ""))
        if matches:
            return float(matches[-1].group(1))
    return None


def conversation_text(prompt: Any) -> str:
    """As the judges app shows a conversation: "User: ..." paragraphs."""
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
    return "\n\n".join(
        f"{str(m.get('role', 'user')).capitalize()}: {m.get('content', '')}" for m in messages
    )


def completion_text(completion: Any) -> str:
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion)
    return str(completion)


class JudgeRewarder:
    """Scores completions with an OpenAI-compatible judge; counts what it could not read."""

    def __init__(self, judge: JudgeRef) -> None:
        import openai

        if judge.score_max <= judge.score_min:
            raise EngineError(
                f"The reward judge's score range [{judge.score_min}, {judge.score_max}] is empty."
            )
        self.judge = judge
        self.client = openai.OpenAI(
            base_url=judge.base_url,
            api_key=os.environ.get(judge.api_key_env) or "not-needed",
            timeout=judge.timeout_seconds,
            max_retries=judge.max_retries,
        )
        self.asked = 0
        self.unreadable = 0

    def messages(self, prompt: Any, completion: Any) -> list[dict[str, str]]:
        user = self.judge.prompt.replace(CONVERSATION_SLOT, conversation_text(prompt)).replace(
            RESPONSE_SLOT, completion_text(completion)
        )
        system = [{"role": "system", "content": self.judge.system}] if self.judge.system else []
        return [*system, {"role": "user", "content": user}]

    def _ask(self, prompt: Any, completion: Any) -> tuple[float | None, str]:
        import openai

        try:
            reply = self.client.chat.completions.create(
                model=self.judge.model,
                messages=self.messages(prompt, completion),
                temperature=self.judge.temperature,
                max_tokens=self.judge.max_tokens,
            )
        except openai.OpenAIError as exc:
            raise EngineError(
                f"The reward judge at {self.judge.base_url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        text = (reply.choices[0].message.content or "") if reply.choices else ""
        value = parse_score(text)
        if value is None or not self.judge.score_min <= value <= self.judge.score_max:
            return None, text
        return value, text

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[float]:
        with ThreadPoolExecutor(max_workers=max(1, self.judge.concurrency)) as pool:
            answers = list(pool.map(self._ask, prompts, completions))
        middle = (self.judge.score_max + self.judge.score_min) / 2
        half = (self.judge.score_max - self.judge.score_min) / 2
        bad = [text for value, text in answers if value is None]
        self.asked += len(answers)
        self.unreadable += len(bad)
        if answers and len(bad) * 2 > len(answers):
            raise EngineError(
                f"The reward judge gave no score in [{self.judge.score_min:g}, "
                f"{self.judge.score_max:g}] for {len(bad)} of {len(answers)} completions; e.g. "
                f"{bad[0][:200]!r}. Check its model and prompt."
            )
        return [0.0 if value is None else (value - middle) / half for value, _ in answers]
