"""Evaluation jobs, on rows the evaluated model never trained on.

- evaluate_reward_model: accuracy (chosen scored strictly above rejected) and mean margin.
- evaluate_policy: the policy against its parent on held-out prompts. Both sample completions
  with the same seed; a reward model scores them. Reported: win rate (policy sample i against
  parent sample i of the same prompt; ties count half), a Monte-Carlo estimate of
  KL(policy || parent) = E_{y ~ policy}[log policy(y|x) - log parent(y|x)] from the policy's
  samples, mean rewards and mean completion lengths. A win rate above its threshold while KL
  exceeds its threshold is flagged as possible reward hacking (a "warning" event).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models, reward
from training.engine.config import EvaluatePolicyConfig, EvaluateRewardModelConfig
from training.engine.generate import Sample, SamplingParams, sample
from training.engine.jobs import EngineError, JobSpec, ModelRef

if TYPE_CHECKING:
    from transformers import PreTrainedModel

SAMPLES_FILE = "policy_samples.jsonl"


def _eval_path(spec: JobSpec) -> str:
    path = spec.eval_file or spec.train_file
    if not path:
        raise EngineError(f"A {spec.kind} job needs an eval_file (held-out rows).")
    return path


def run_evaluate_reward_model(
    spec: JobSpec, config: EvaluateRewardModelConfig, emit: Callable[..., None]
) -> dict[str, Any]:
    path = _eval_path(spec)
    rows = data.read_jsonl(path, role="eval data")
    data.check_rows(rows, "preference", source=f"eval data {path}")
    emit("start", kind=spec.kind, total_steps=1, step=0)
    model, tokenizer = load_reward_model(spec.model)
    metrics = reward.preference_metrics(
        model, tokenizer, rows, batch_size=config.batch_size, max_length=config.max_length
    )
    emit("eval", step=1, metrics=metrics)
    return {"outputs": {}, "metrics": metrics}


def load_reward_model(ref: ModelRef, role: str = "reward model") -> tuple[Any, Any]:
    tokenizer = models.load_tokenizer(ref, role)
    model = models.load_model(ref, "seq_cls", role=role, pad_token_id=tokenizer.pad_token_id)
    return model.to(models.device()), tokenizer


def run_evaluate_policy(
    spec: JobSpec, config: EvaluatePolicyConfig, emit: Callable[..., None]
) -> dict[str, Any]:
    path = _eval_path(spec)
    rows = data.read_jsonl(path, role="eval data")
    data.check_rows(rows, "prompt", source=f"eval data {path}")
    prompts = [r["prompt"] for r in data.unique_prompts(rows)][: config.max_prompts]
    parent_ref = spec.reference
    if parent_ref is None:
        if not spec.model.adapter_path:
            raise EngineError(
                "An evaluate_policy job needs a reference (the parent policy) to compare with."
            )
        parent_ref = ModelRef(path=spec.model.path)  # the base the policy's adapter sits on
    started = time.monotonic()
    emit("start", kind=spec.kind, total_steps=4, step=0)
    step = _Steps(emit, started)

    tokenizer = models.load_tokenizer(spec.model)
    params = SamplingParams(
        num_return_sequences=config.samples_per_prompt,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        seed=spec.seed if config.seed is None else config.seed,
    )
    policy = models.load_model(spec.model, "causal_lm").to(models.device())
    ours = sample(policy, tokenizer, prompts, params)
    step("policy sampled", tokens=sum(len(s.completion_ids) for s in ours))

    parent = models.load_model(parent_ref, "causal_lm", role="reference model")
    parent = parent.to(models.device())
    models.check_same_vocab(
        policy, parent, f"The policy {spec.model.path}", f"its parent {parent_ref.path}"
    )
    theirs = sample(parent, tokenizer, prompts, params)
    step("parent sampled", tokens=sum(len(s.completion_ids) for s in theirs))

    log_ratio = [
        p - q
        for p, q in zip(
            sequence_logprobs(policy, ours, tokenizer.pad_token_id, config.batch_size),
            sequence_logprobs(parent, ours, tokenizer.pad_token_id, config.batch_size),
            strict=True,
        )
    ]
    del policy, parent
    step("log-probabilities")

    judge, judge_tokenizer = load_reward_model(spec.reward_model)
    ours_r = _rewards(judge, judge_tokenizer, prompts, ours, config)
    theirs_r = _rewards(judge, judge_tokenizer, prompts, theirs, config)
    step("scored")

    metrics = policy_metrics(ours, theirs, ours_r, theirs_r, log_ratio)
    warning = hacking_warning(metrics, config)
    metrics["reward_hacking_warning"] = float(warning is not None)
    if warning:
        emit("warning", message=warning)
    out = data.write_jsonl(
        _sample_rows(prompts, ours, theirs, ours_r, theirs_r, log_ratio),
        Path(spec.out_dir) / SAMPLES_FILE,
    )
    emit("eval", step=4, metrics=metrics)
    return {"outputs": {"data_file": str(out)}, "metrics": metrics}


class _Steps:
    def __init__(self, emit: Callable[..., None], started: float) -> None:
        self.emit, self.started, self.done = emit, started, 0

    def __call__(self, stage: str, tokens: int | None = None) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        metrics = {} if tokens is None else {"tokens": float(tokens)}
        self.emit(
            "log",
            step=self.done,
            total_steps=4,
            metrics=metrics,
            stage=stage,
            elapsed_s=round(elapsed, 3),
            eta_s=round(elapsed / self.done * (4 - self.done), 1),
        )


def _rewards(
    judge: Any, tokenizer: Any, prompts: Sequence[Any], samples: list[Sample], config: Any
) -> list[float]:
    return reward.score(
        judge,
        tokenizer,
        [prompts[s.index] for s in samples],
        [s.text for s in samples],
        batch_size=config.batch_size,
        max_length=config.max_length,
    )


def sequence_logprobs(
    model: PreTrainedModel, samples: Sequence[Sample], pad_id: int, batch_size: int = 8
) -> list[float]:
    """log p(completion | prompt) under `model`, summed over the completion's tokens."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: list[float] = []
    try:
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            sequences = [s.prompt_ids + s.completion_ids for s in chunk]
            width = max(len(s) for s in sequences)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            target = torch.zeros((len(chunk), width), dtype=torch.bool)
            for row, (s, seq) in enumerate(zip(chunk, sequences, strict=True)):
                ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[row, : len(seq)] = 1
                target[row, len(s.prompt_ids) : len(seq)] = True
            with torch.no_grad():
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            # Prompt tuning prepends virtual tokens to the outputs: keep the real positions.
            logits = logits[:, -width:].float()
            logps = torch.log_softmax(logits[:, :-1], dim=-1)
            picked = logps.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
            picked = picked * target[:, 1:].to(device)
            totals.extend(picked.sum(dim=1).tolist())
    finally:
        model.train(was_training)
    return totals


def hacking_warning(metrics: dict[str, float], config: EvaluatePolicyConfig) -> str | None:
    """The reward-hacking warning, when the win rate rose while KL went past its threshold."""
    if (
        metrics["win_rate"] <= config.win_rate_warning_threshold
        or metrics["kl"] <= config.kl_warning_threshold
    ):
        return None
    return (
        f"Possible reward hacking: the win rate against the parent is {metrics['win_rate']:.2f} "
        f"while KL(policy || parent) is {metrics['kl']:.1f} nats, above "
        f"{config.kl_warning_threshold:g}. The policy may be exploiting the reward model rather "
        "than improving; read its samples before trusting it."
    )


def policy_metrics(
    ours: list[Sample],
    theirs: list[Sample],
    ours_r: list[float],
    theirs_r: list[float],
    log_ratio: list[float],
) -> dict[str, float]:
    n = len(ours)
    if n == 0:
        raise EngineError("The policy evaluation had no prompts to sample from.")
    wins = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(ours_r, theirs_r, strict=True)]
    kl = sum(log_ratio) / n
    variance = sum((x - kl) ** 2 for x in log_ratio) / max(n - 1, 1)
    return {
        "win_rate": sum(wins) / n,
        "kl": kl,
        "kl_stderr": math.sqrt(variance / n),
        "kl_per_token": kl / max(sum(len(s.completion_ids) for s in ours) / n, 1e-9),
        "reward_policy": sum(ours_r) / n,
        "reward_parent": sum(theirs_r) / n,
        "reward_gain": (sum(ours_r) - sum(theirs_r)) / n,
        "length_policy": sum(len(s.completion_ids) for s in ours) / n,
        "length_parent": sum(len(s.completion_ids) for s in theirs) / len(theirs),
        "samples": float(n),
    }


def _sample_rows(
    prompts: Sequence[Any],
    ours: list[Sample],
    theirs: list[Sample],
    ours_r: list[float],
    theirs_r: list[float],
    log_ratio: list[float],
) -> list[dict[str, Any]]:
    return [
        {
            "prompt": prompts[a.index],
            "sample": a.sample,
            "policy": a.text,
            "parent": b.text,
            "reward_policy": ra,
            "reward_parent": rb,
            "log_ratio": lr,
        }
        for a, b, ra, rb, lr in zip(ours, theirs, ours_r, theirs_r, log_ratio, strict=True)
    ]
