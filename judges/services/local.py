"""Local judges: a Hugging Face causal LM or a reward-model ModelVersion, on this machine.

The heavy lifting is in training/engine/scoring.py (torch, loaded lazily); this module turns
Asks into Answers the same way the OpenAI client does, so runs treat every kind alike.

- Causal LM, pairwise without chain of thought: one forward pass; the next-token distribution
  over "A" / "B" / "C" is the verdict's probability (nothing to parse, nothing to retry).
- Causal LM otherwise: generate, parse, and re-ask (sampling) up to max_parse_retries times.
- Reward model: one score per response; the pair's probability is sigmoid(r_a - r_b).
"""

from __future__ import annotations

import time

from judges.services.config import PAIRWISE_LABELS, JudgeConfig
from judges.services.parsing import Parsed, ParseError, parse
from judges.services.verdicts import Answer, Ask


def _ref(config: JudgeConfig):
    from training.engine.jobs import ModelRef

    if not config.model_path:
        raise ValueError(f"judge {config.name!r} names no local model (model or model version)")
    return ModelRef(path=config.model_path, adapter_path=config.adapter_path or None)


def ask_local_lm(config: JudgeConfig, asks: list[Ask]) -> list[Answer]:
    from training.engine import scoring

    ref = _ref(config)
    direct = [a for a in asks if a.mode == "pairwise" and not config.chain_of_thought]
    answers: dict[int, Answer] = {}
    if direct:
        started = time.perf_counter()
        results = scoring.answer_probabilities(ref, [a.messages for a in direct], PAIRWISE_LABELS)
        each_ms = (time.perf_counter() - started) * 1000 / len(direct)
        for ask, result in zip(direct, results, strict=True):
            label = max(result.probabilities, key=result.probabilities.get)
            answers[id(ask)] = Answer(
                ok=True,
                text=label,
                parsed=Parsed(label=label, offset=0),
                distribution=result.probabilities,
                raw_outputs=[label],
                prompt_tokens=result.prompt_tokens,
                completion_tokens=1,
                latency_ms=each_ms,
                attempts=1,
            )
    for ask in asks:
        if id(ask) not in answers:
            answers[id(ask)] = _generate_and_parse(config, ref, ask)
    return [answers[id(ask)] for ask in asks]


def _generate_and_parse(config: JudgeConfig, ref, ask: Ask) -> Answer:
    from training.engine import scoring

    params = config.sampling_params
    answer = Answer(ok=False)
    started = time.perf_counter()
    for attempt in range(config.max_parse_retries + 1):
        # A greedy re-ask would repeat itself: retries sample.
        temperature = float(params.get("temperature") or 0.0) or (0.7 if attempt else 0.0)
        (result,) = scoring.generate(
            ref,
            [ask.messages],
            max_new_tokens=int(params.get("max_tokens") or 256),
            temperature=temperature,
            seed=int(params.get("seed") or 0) + attempt,
        )
        answer.attempts += 1
        answer.prompt_tokens += result.prompt_tokens
        answer.completion_tokens += result.completion_tokens
        answer.raw_outputs.append(result.text)
        answer.text = result.text
        try:
            answer.parsed = parse(ask.mode, result.text, ask.n)
        except ParseError as exc:
            answer.error_kind, answer.error = "unparseable", str(exc)
            continue
        answer.ok, answer.error_kind, answer.error = True, "", ""
        break
    answer.latency_ms = (time.perf_counter() - started) * 1000
    return answer


def ask_reward_model(
    config: JudgeConfig, asks: list[Ask], conversations: list[list[dict]], texts: list[list[str]]
) -> list[Answer]:
    """Score every response of each ask (`texts[i]` in canonical order) after `conversations[i]`."""
    from training.engine import scoring

    ref = _ref(config)
    flat = [
        [*conversation, {"role": "assistant", "content": text}]
        for conversation, options in zip(conversations, texts, strict=True)
        for text in options
    ]
    started = time.perf_counter()
    scores = scoring.reward_scores(ref, flat) if flat else []
    each_ms = (time.perf_counter() - started) * 1000 / max(1, len(asks))
    answers, position = [], 0
    for options in texts:
        rewards = scores[position : position + len(options)]
        position += len(options)
        answers.append(
            Answer(
                ok=True,
                text=" ".join(f"{r:.4f}" for r in rewards),
                raw_outputs=[],
                rewards=rewards,
                attempts=1,
                latency_ms=each_ms,
            )
        )
    return answers
