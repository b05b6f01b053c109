"""Rejection sampling (best-of-K, as in Llama 3.1's post-training).

K completions per prompt from spec.model, each scored by spec.reward_model (formatted exactly as
it was trained, reward.score). Outputs, in trl's formats and in the prompts' own format
(standard strings or conversational messages):
- out_dir/best_of_k_sft.jsonl: {"prompt", "completion", "score"}, the best completion per prompt;
- out_dir/best_of_k_pairs.jsonl: {"prompt", "chosen", "rejected", "margin"}, best against worst,
  kept when their scores differ by more than min_margin;
- out_dir/best_of_k_samples.jsonl: every sample with its score, for inspection.
Other columns of the prompt rows (the platform's "prompt_id") ride along.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.engine import data, models, reward
from training.engine.config import RejectionSamplingConfig
from training.engine.generate import SamplingParams, sample
from training.engine.jobs import EngineError, JobSpec

SFT_FILE = "best_of_k_sft.jsonl"
PAIRS_FILE = "best_of_k_pairs.jsonl"
SAMPLES_FILE = "best_of_k_samples.jsonl"


def run(
    spec: JobSpec, config: RejectionSamplingConfig, emit: Callable[..., None]
) -> dict[str, Any]:
    from training.engine.evaluate import load_reward_model

    if spec.reward_model is None:
        raise EngineError("A rejection_sampling job needs a reward_model to rank the samples.")
    out_dir = Path(spec.out_dir)
    rows = data.unique_prompts(data.read_jsonl(spec.train_file, role="prompt file"))
    data.check_rows(rows, "prompt", source=f"prompt file {spec.train_file}")
    conversational = data.is_conversational(rows[0])
    started = time.monotonic()
    emit("start", kind=spec.kind, total_steps=2, step=0)
    tokenizer = models.load_tokenizer(spec.model)
    policy = models.load_model(spec.model, "causal_lm").to(models.device())
    params = SamplingParams(
        num_return_sequences=config.num_return_sequences,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        max_prompt_length=config.max_prompt_length,
        seed=spec.seed if config.seed is None else config.seed,
    )
    prompts = [r["prompt"] for r in rows]
    samples = sample(policy, tokenizer, prompts, params)
    del policy
    emit(
        "log",
        step=1,
        total_steps=2,
        metrics={"samples": float(len(samples))},
        elapsed_s=round(time.monotonic() - started, 3),
        eta_s=None,
    )
    judge, judge_tokenizer = load_reward_model(spec.reward_model)
    scores = reward.score(
        judge,
        judge_tokenizer,
        [prompts[s.index] for s in samples],
        [s.text for s in samples],
        batch_size=config.batch_size,
        max_length=config.max_length,
    )
    by_prompt: dict[int, list[tuple[float, str]]] = {}
    for s, score in zip(samples, scores, strict=True):
        by_prompt.setdefault(s.index, []).append((score, s.text))

    def as_response(text: str) -> Any:
        return [{"role": "assistant", "content": text}] if conversational else text

    sft_rows, pairs, everything = [], [], []
    for index, scored in sorted(by_prompt.items()):
        row = rows[index]
        ranked = sorted(scored, key=lambda item: item[0], reverse=True)
        (best_score, best), (worst_score, worst) = ranked[0], ranked[-1]
        sft_rows.append({**row, "completion": as_response(best), "score": best_score})
        if best_score - worst_score > config.min_margin and best != worst:
            pairs.append(
                {
                    **row,
                    "chosen": as_response(best),
                    "rejected": as_response(worst),
                    "margin": best_score - worst_score,
                }
            )
        everything += [{**row, "completion": text, "score": sc} for sc, text in scored]
    sft_path = data.write_jsonl(sft_rows, out_dir / SFT_FILE)
    pairs_path = data.write_jsonl(pairs, out_dir / PAIRS_FILE)
    data.write_jsonl(everything, out_dir / SAMPLES_FILE)
    n = max(len(scores), 1)
    metrics = {
        "prompts": float(len(rows)),
        "samples": float(len(samples)),
        "pairs": float(len(pairs)),
        "mean_score": sum(scores) / n,
        "mean_best_score": sum(r["score"] for r in sft_rows) / max(len(sft_rows), 1),
        "mean_margin": sum(p["margin"] for p in pairs) / max(len(pairs), 1),
    }
    emit(
        "log",
        step=2,
        total_steps=2,
        metrics=metrics,
        elapsed_s=round(time.monotonic() - started, 3),
        eta_s=0.0,
    )
    return {
        "outputs": {"data_file": str(sft_path), "preference_file": str(pairs_path)},
        "metrics": metrics,
    }
