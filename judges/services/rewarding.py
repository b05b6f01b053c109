"""A judge as the reward of online RL (RLAIF): what the engine needs to ask it for scores.

The engine asks the judge itself, once per sampled completion (training/engine/rewarders.py).
Here the judge's single-score prompt is rendered with its rubric or constitution and the
project's guidelines, leaving slots where the engine puts each conversation and completion; its
API key goes to the engine's environment, never into the job file on disk.
"""

from __future__ import annotations

from judges.models import Judge, JudgeKind, JudgeMode
from judges.services.config import judge_config
from judges.services.prompts import (
    DEFAULT_TEMPLATES,
    SCORE_MAX,
    SCORE_MIN,
    SYSTEM_PROMPT,
    answer_format,
    fill,
    principles_text,
    responses_text,
)
from training.engine.jobs import CONVERSATION_SLOT, RESPONSE_SLOT, JudgeRef

API_KEY_ENV = "PS_REWARD_JUDGE_API_KEY"


def reward_judge_problem(judge: Judge) -> str | None:
    """Why `judge` cannot reward online RL, or None."""
    if judge.kind == JudgeKind.REWARD_MODEL:
        return (
            f"Judge '{judge}' is a local reward model: choose its model version as the run's "
            "reward model instead."
        )
    if judge.kind != JudgeKind.OPENAI:
        return (
            f"Judge '{judge}' is a {judge.get_kind_display()}; only judges on an "
            "OpenAI-compatible endpoint can reward online RL (serve the model with vLLM, "
            "llama.cpp or Ollama and point a judge at it)."
        )
    if not judge.base_url:
        return f"Judge '{judge}' has no base URL."
    return None


def judge_reward_ref(*, judge: Judge, guidelines: str = "") -> tuple[JudgeRef, dict[str, str]]:
    """(the engine's JudgeRef, the environment the engine child needs: the API key)."""
    config = judge_config(judge)
    own = config.template.strip() if config.mode == JudgeMode.SCORE else ""
    prompt = fill(
        own or DEFAULT_TEMPLATES["score"],
        {
            "conversation": CONVERSATION_SLOT,
            "responses": responses_text([RESPONSE_SLOT], single=True),
            "principles": principles_text(config),
            "answer_format": answer_format("score", 1, config.chain_of_thought),
            "guidelines": guidelines,
        },
    )
    sampling = config.sampling_params
    ref = JudgeRef(
        base_url=config.base_url,
        model=config.model,
        prompt=prompt,
        system=SYSTEM_PROMPT,
        api_key_env=API_KEY_ENV,
        temperature=float(sampling.get("temperature", 0.0)),
        max_tokens=int(sampling.get("max_tokens", 512 if config.chain_of_thought else 16)),
        score_min=float(SCORE_MIN),
        score_max=float(SCORE_MAX),
        concurrency=config.concurrency,
        timeout_seconds=config.timeout_seconds,
        max_retries=config.max_retries,
    )
    return ref, ({API_KEY_ENV: config.api_key} if config.api_key else {})
