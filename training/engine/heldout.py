"""Held-out evaluation of an online RL policy (PPO, GRPO, RLOO), and the token-level helpers it
shares with PPO.

An evaluation samples one completion per held-out prompt from the policy, with the job's seed (so
successive evaluations compare like with like), and reports:
- heldout_reward: the mean reward of those completions, from the job's rewarder (its reward
  model, formatted exactly as RewardTrainer trained it, or its AI judge: rewarders.rewarder_for);
- heldout_kl: KL(policy || reference) in nats per completion, the k1 Monte-Carlo estimate
  sum_t log pi(y_t) - log ref(y_t) over the policy's own samples, both at the sampling
  temperature (the KL PPO penalises);
- heldout_length: mean completion length, in tokens.

The reference is a frozen model, or None when it is the policy with its adapters disabled (a new
LoRA / IA3 adapter: the base is the starting policy). Evaluating leaves the random number
generators as it found them, so a run with evaluation trains exactly as one without.

PPO calls HeldoutEvaluator directly; GRPO and RLOO run it from a transformers TrainerCallback
(heldout_callback) before training and every eval_steps, and the job once more at the end.
Torch and transformers are imported inside functions, as everywhere in the engine.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from training.engine import models, ppo_math
from training.engine.generate import Sample, SamplingParams, sample
from training.engine.jobs import JobSpec

if TYPE_CHECKING:
    import torch


def frozen_reference(spec: JobSpec, policy: Any, fresh_adapter: bool) -> Any:
    """The reference to measure KL against, frozen, or None when the policy's adapters disabled
    are the reference. In order of precedence: spec.reference when it names another model; the
    policy with its adapters disabled when a new LoRA / IA3 adapter is trained; otherwise a copy
    of the starting policy (take it before training changes the policy)."""
    if spec.reference is not None and spec.reference != spec.model:
        reference = models.load_model(spec.reference, "causal_lm", role="reference model")
        models.check_same_vocab(
            policy, reference, f"The policy {spec.model.path}", f"its reference {spec.reference}"
        )
    elif fresh_adapter:
        return None
    else:
        reference = copy.deepcopy(policy)
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def completion_tensors(samples: Sequence[Sample], pad_id: int, device: Any) -> dict[str, Any]:
    """Prompts left-padded and completions right-padded, so every completion starts at the same
    column (prompt_width); position ids count real tokens only; mask is 1 on generated tokens."""
    import torch

    width = max(len(s.prompt_ids) for s in samples)
    length = max(len(s.completion_ids) for s in samples)
    ids = torch.full((len(samples), width + length), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for row, s in enumerate(samples):
        start = width - len(s.prompt_ids)
        sequence = s.prompt_ids + s.completion_ids
        ids[row, start : start + len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        attention[row, start : start + len(sequence)] = 1
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    return {
        "input_ids": ids.to(device),
        "attention_mask": attention.to(device),
        "position_ids": positions.to(device),
        "mask": attention[:, width:].float().to(device),
        "prompt_width": width,
    }


def rows_of(batch: dict[str, Any], rows: Any) -> dict[str, Any]:
    """The batch restricted to some rows (a slice or an index tensor); prompt_width is kept."""
    return {k: v if k == "prompt_width" else v[rows] for k, v in batch.items()}


def accepts_logits_to_keep(model: Any) -> bool:
    """Whether the causal LM under `model` (PPO's policy-with-value module, a peft wrapper) can
    compute logits for the last positions only; most transformers causal LMs can, and the
    completion's log-probabilities need no others."""
    base = getattr(model, "policy", model)
    if hasattr(base, "get_base_model"):
        base = base.get_base_model()
    return _has_logits_to_keep(type(base))


@functools.cache
def _has_logits_to_keep(cls: type) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return False


def forward_completions(
    model: Any, batch: dict[str, Any], temperature: float, *, logits_to_keep: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(log-probabilities of the completion tokens, their logits / temperature, values or None
    when `model` has no value head), each [batch, completion tokens].

    The completion of n tokens is predicted by the n positions before each of its tokens; with
    `logits_to_keep` only the last n + 1 positions go through the LM head (prompt tuning's
    virtual tokens, prepended to the outputs, are left out the same way)."""
    import torch

    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    n = inputs["input_ids"].shape[1] - batch["prompt_width"]
    if logits_to_keep:
        inputs["logits_to_keep"] = n + 1
    out = model(**inputs)
    logits, values = out if isinstance(out, tuple) else (out.logits, None)
    logits = logits[:, -(n + 1) : -1].float() / max(temperature, 1e-6)
    targets = inputs["input_ids"][:, -n:]
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if values is not None:
        values = values[:, -(n + 1) : -1].float()
    return logprobs, logits, values


def reference_logprobs(
    reference: Any, policy: Any, batch: dict[str, Any], temperature: float
) -> torch.Tensor:
    """The completion tokens' log-probabilities under the reference (no gradient): the frozen
    model, or the policy with its adapters disabled when `reference` is None."""
    import torch

    with torch.no_grad():
        if reference is not None:
            return _logprobs(reference, batch, temperature)
        with policy.disable_adapter():
            return _logprobs(policy, batch, temperature)


def _logprobs(model: Any, batch: dict[str, Any], temperature: float) -> torch.Tensor:
    keep = accepts_logits_to_keep(model)
    return forward_completions(model, batch, temperature, logits_to_keep=keep)[0]


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Leave Python's, numpy's and torch's random states as they were found."""
    import numpy as np
    import torch

    states = (random.getstate(), np.random.get_state(), torch.random.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@dataclass
class HeldoutEvaluator:
    """Everything an evaluation needs but the policy: prompts, reference, rewarder and the
    sampling settings of the job."""

    prompts: Sequence[Any]
    reference: Any
    """A frozen model, or None: the policy with its adapters disabled (frozen_reference)."""
    tokenizer: Any
    rewarder: Callable[[Sequence[Any], Sequence[Any]], list[float]]
    """(prompts, completions) -> rewards, as training scores them (rewarders.rewarder_for)."""
    seed: int
    temperature: float = 1.0
    max_new_tokens: int = 32
    max_prompt_length: int | None = None
    batch_size: int = 8
    """Prompts per generate() call and sequences per log-probability forward pass."""

    def __bool__(self) -> bool:
        return bool(self.prompts)

    def samples(self, policy: Any) -> list[Sample]:
        params = SamplingParams(
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
            batch_size=self.batch_size,
            max_prompt_length=self.max_prompt_length,
            seed=self.seed,
        )
        return sample(policy, self.tokenizer, self.prompts, params)

    def evaluate(self, policy: Any) -> dict[str, float]:
        """heldout_reward, heldout_kl and heldout_length of `policy` (a causal LM, possibly a
        peft model) on the held-out prompts."""
        import torch

        was_training = policy.training
        policy.eval()
        try:
            with preserved_rng():
                samples = self.samples(policy)
            scores = self.rewarder(
                [self.prompts[s.index] for s in samples], [s.text for s in samples]
            )
            device = next(policy.parameters()).device
            kl, lengths = [], []
            for start in range(0, len(samples), self.batch_size):
                batch = completion_tensors(
                    samples[start : start + self.batch_size], self.tokenizer.pad_token_id, device
                )
                with torch.no_grad():
                    ours = _logprobs(policy, batch, self.temperature)
                theirs = reference_logprobs(self.reference, policy, batch, self.temperature)
                kl.append(ppo_math.kl_k1(ours, theirs, batch["mask"]).sum(dim=1))
                lengths.append(batch["mask"].sum(dim=1))
        finally:
            policy.train(was_training)
        return {
            "heldout_reward": sum(scores) / len(scores),
            "heldout_kl": float(torch.cat(kl).mean()),
            "heldout_length": float(torch.cat(lengths).mean()),
        }


def heldout_callback(
    evaluator: HeldoutEvaluator,
    emit: Callable[..., None],
    *,
    eval_steps: int | None,
    model: Callable[[], Any],
) -> Any:
    """A TrainerCallback that emits an "eval" event before training (unless resuming) and every
    eval_steps steps but the last (the job evaluates the final policy itself). `model()` returns
    the policy as the trainer holds it, unwrapped. (A factory, so importing this module does not
    import transformers.)"""
    from transformers import TrainerCallback

    class HeldoutCallback(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if state.global_step == 0:
                emit("eval", step=0, metrics=evaluator.evaluate(model()))
            return control

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if eval_steps and step % eval_steps == 0 and step < state.max_steps:
                emit("eval", step=step, metrics=evaluator.evaluate(model()))
            return control

    return HeldoutCallback()
