"""PPO for causal LMs, written for this project (trl 1.x removed its PPOTrainer).

Each step: sample one completion per prompt of a batch from the policy; score each with the
reward model (reward.score, formatted exactly as RewardTrainer trained it); add a per-token KL
penalty against the frozen reference; estimate advantages with GAE from a value head (a linear
layer on the policy's last hidden state); then run num_ppo_epochs passes of minibatch updates on
the clipped policy and value losses (ppo_math). Dropout stays off throughout, so the old and new
log-probabilities of an unchanged policy agree exactly.

The reference, in order of precedence: spec.reference when it names another model; the policy
with its adapters disabled when a new LoRA / IA3 adapter is trained; otherwise a frozen copy of
the starting policy. Accelerate's Accelerator places the model and prepares it for several
processes; checkpoints are Accelerator states (model, value head, optimizer, scheduler, RNG) plus
the step and KL coefficient, so a cancelled job resumes where it stopped.

Prompts come from spec.train_file (any format with a "prompt" column); held-out prompts (the
eval_file, or eval_fraction of train_file's prompts) are scored before training and at the end
as "eval" events: heldout_reward (mean reward-model score) and heldout_kl (nats per completion).
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models, ppo_math, reward
from training.engine.config import PpoConfig, mixed_precision
from training.engine.generate import Sample, SamplingParams, sample
from training.engine.jobs import EngineError, JobCancelled, JobSpec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

HELDOUT_FILE = "heldout.jsonl"
STATE_FILE = "ppo_state.json"
VALUE_HEAD_FILE = "value_head.pt"


def run(
    spec: JobSpec,
    config: PpoConfig,
    emit: Callable[..., None],
    *,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Train spec.model (or an in-memory `model`) with PPO; returns {"outputs", "metrics"}."""
    import torch
    from accelerate import Accelerator
    from transformers import get_scheduler, set_seed

    from training.engine.callbacks import EventCallback, quiet
    from training.engine.evaluate import load_reward_model

    quiet()
    if spec.reward_model is None:
        raise EngineError("A ppo job needs a reward_model to score the completions.")
    out_dir = Path(spec.out_dir)
    set_seed(spec.seed)
    prompts, held = prompt_splits(spec, config.eval_fraction, out_dir / HELDOUT_FILE)
    if tokenizer is None:
        tokenizer = models.load_tokenizer(spec.model)
    trainable = models.trainable_for(
        spec, config, task="causal_lm", out_dir=out_dir, tokenizer=tokenizer, model=model
    )
    policy = trainable.model
    fresh_adapter = trainable.peft_config is not None
    if fresh_adapter:
        from peft import get_peft_model

        policy = get_peft_model(policy, trainable.peft_config)
    reference = _reference(spec, policy, fresh_adapter)
    if config.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    judge, judge_tokenizer = load_reward_model(spec.reward_model)

    precision = mixed_precision(config.precision)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision="bf16" if precision["bf16"] else "fp16" if precision["fp16"] else "no",
    )
    module = policy_with_value(policy, models.hidden_size(policy.config) or 0)
    module.eval()  # no dropout: see the module docstring
    total_steps = _total_steps(config, len(prompts))
    updates = total_steps * config.num_ppo_epochs * config.num_mini_batches
    optimizer = torch.optim.AdamW(
        [p for p in module.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    warmup = config.warmup_steps
    scheduler = get_scheduler(
        config.lr_scheduler_type,
        optimizer,
        num_warmup_steps=int(warmup * updates) if warmup < 1 else int(warmup),
        num_training_steps=updates,
    )
    module, optimizer, scheduler = accelerator.prepare(module, optimizer, scheduler)
    if reference is not None:
        reference = reference.to(accelerator.device)
    judge = judge.to(accelerator.device)
    kl_ctl = _kl_controller(config)

    start = 0
    checkpoint = _last_checkpoint(out_dir) if spec.resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        start, kl_ctl.value = int(state["step"]), float(state["kl_coef"])

    ctx = _Context(
        accelerator, module, reference, tokenizer, judge, judge_tokenizer, config, spec.seed
    )
    watch = EventCallback(emit, out_dir=out_dir, kind=spec.kind)  # cancel file and signals
    watch._install()
    started = time.monotonic()
    emit("start", kind=spec.kind, total_steps=total_steps, step=start)
    if held and start == 0:
        emit("eval", step=0, metrics=heldout_metrics(ctx, held))
    metrics: dict[str, float] = {}
    try:
        for step in range(start + 1, total_steps + 1):
            batch = _batch(prompts, step, config.per_device_train_batch_size, spec.seed)
            rollout = collect(ctx, batch, kl_ctl.value, seed=spec.seed * 100_003 + step)
            metrics = optimise(ctx, rollout, optimizer, scheduler)
            metrics["kl_coef"] = kl_ctl.value
            kl_ctl.update(metrics["kl"], len(batch))
            if step % config.logging_steps == 0 or step == total_steps:
                elapsed = time.monotonic() - started
                done = step - start
                emit(
                    "log",
                    step=step,
                    total_steps=total_steps,
                    metrics=metrics,
                    elapsed_s=round(elapsed, 3),
                    eta_s=round(elapsed / done * (total_steps - step), 1),
                )
            if held and config.eval_steps and step % config.eval_steps == 0 and step < total_steps:
                emit("eval", step=step, metrics=heldout_metrics(ctx, held))
            cancelled = watch.cancel_requested()
            if cancelled or step % config.save_steps == 0 or step == total_steps:
                path = _save_checkpoint(ctx, out_dir, step, kl_ctl.value, config.save_total_limit)
                emit("checkpoint", step=step, path=str(path))
                if cancelled:
                    raise JobCancelled(step, str(path))
    finally:
        watch._restore()
    final = {f"train_{k}": v for k, v in metrics.items()}
    final["global_step"] = float(total_steps)
    final["train_runtime"] = time.monotonic() - started
    if held:
        evaluated = heldout_metrics(ctx, held)
        emit("eval", step=total_steps, metrics=evaluated)
        final.update({f"heldout_{k.removeprefix('heldout_')}": v for k, v in evaluated.items()})
    outputs = _save_final(ctx, trainable, out_dir)
    if (out_dir / HELDOUT_FILE).is_file() and not spec.eval_file:
        outputs["eval_file"] = str(out_dir / HELDOUT_FILE)
    return {"outputs": outputs, "metrics": final}


def prompt_splits(
    spec: JobSpec, eval_fraction: float, heldout_path: Path
) -> tuple[list[Any], list[Any]]:
    """(training prompts, held-out prompts), each de-duplicated; whole prompts are held out."""
    if not spec.train_file:
        raise EngineError(f"A {spec.kind} job needs a train_file (rows with a 'prompt').")
    rows = data.read_jsonl(spec.train_file, role="training data")
    data.check_rows(rows, "prompt", source=f"training data {spec.train_file}")
    if spec.eval_file:
        held_rows = data.read_jsonl(spec.eval_file, role="eval data")
        data.check_rows(held_rows, "prompt", source=f"eval data {spec.eval_file}")
    else:
        rows, held_rows = data.split_by_prompt(rows, eval_fraction=eval_fraction, seed=spec.seed)
        if held_rows:
            data.write_jsonl(held_rows, heldout_path)
    return (
        [r["prompt"] for r in data.unique_prompts(rows)],
        [r["prompt"] for r in data.unique_prompts(held_rows)],
    )


def policy_with_value(policy: Any, hidden_size: int) -> Any:
    """The policy and a scalar value head reading its last hidden state, as one torch module,
    so one optimizer and one accelerator.prepare() cover both. (A factory, so importing this
    module does not import torch.)"""
    import torch

    if hidden_size < 1:
        raise EngineError("PPO could not find the policy's hidden size for its value head.")

    class PolicyWithValue(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy
            self.value_head = torch.nn.Linear(hidden_size, 1)
            torch.nn.init.normal_(self.value_head.weight, std=1 / math.sqrt(hidden_size + 1))
            torch.nn.init.zeros_(self.value_head.bias)

        def forward(self, **batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.policy(**batch, output_hidden_states=True, use_cache=False)
            hidden = out.hidden_states[-1].to(self.value_head.weight.dtype)
            return out.logits, self.value_head(hidden).squeeze(-1)

    return PolicyWithValue()


@dataclass
class _Context:
    accelerator: Any
    module: Any
    reference: Any
    tokenizer: Any
    judge: Any
    judge_tokenizer: Any
    config: PpoConfig
    seed: int

    @property
    def unwrapped(self) -> Any:
        return self.accelerator.unwrap_model(self.module)


@dataclass
class Rollout:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    mask: torch.Tensor
    """[batch, completion tokens]: 1 on generated tokens."""
    prompt_width: int
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    scores: torch.Tensor
    kl: torch.Tensor
    """Per-sequence sum of the k1 KL estimate."""


def _reference(spec: JobSpec, policy: Any, fresh_adapter: bool) -> Any:
    """A frozen reference model, or None when the policy's adapters disabled are the reference."""
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


def _kl_controller(config: PpoConfig) -> Any:
    if config.kl_controller == "adaptive":
        return ppo_math.AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon)
    return ppo_math.FixedKLController(config.kl_coef)


def _total_steps(config: PpoConfig, n_prompts: int) -> int:
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = n_prompts / config.per_device_train_batch_size
    return max(1, math.ceil(config.num_train_epochs * per_epoch))


def _batch(prompts: Sequence[Any], step: int, size: int, seed: int) -> list[Any]:
    """The step's prompts: consecutive slices of a per-epoch shuffle, so a resumed job sees
    the same batches as an uninterrupted one."""
    picked = []
    for index in range((step - 1) * size, step * size):
        epoch, position = divmod(index, len(prompts))
        order = list(range(len(prompts)))
        random.Random(seed * 7919 + epoch).shuffle(order)
        picked.append(prompts[order[position]])
    return picked


def _tensors(samples: Sequence[Sample], pad_id: int, device: Any) -> dict[str, Any]:
    """Prompts left-padded and completions right-padded, so every completion starts at the same
    column; position ids count real tokens only."""
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


def _forward(model: Any, batch: dict[str, Any], width: int, temperature: float) -> Any:
    """(log-probabilities of the completion tokens, logits over them, values or None)."""
    import torch

    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    out = model(**inputs)
    logits, values = out if isinstance(out, tuple) else (out.logits, None)
    total = inputs["input_ids"].shape[1]
    logits = logits[:, -total:]  # prompt tuning prepends virtual tokens to the outputs
    logits = logits[:, width - 1 : -1].float() / max(temperature, 1e-6)
    targets = inputs["input_ids"][:, width:]
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if values is not None:
        values = values[:, -total:][:, width - 1 : -1].float()
    return logprobs, logits, values


def _slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def collect(ctx: _Context, prompts: Sequence[Any], kl_coef: float, *, seed: int) -> Rollout:
    """Sample, score and evaluate one batch of rollouts; advantages and returns by GAE."""
    import torch

    config = ctx.config
    policy = ctx.unwrapped.policy
    samples = _samples(ctx, policy, prompts, seed)
    scores = torch.tensor(_scores(ctx, prompts, samples), dtype=torch.float32)
    if config.missing_eos_penalty is not None:
        cut = torch.tensor([s.finish_reason == "length" for s in samples])
        scores = scores - config.missing_eos_penalty * cut.float()
    device = ctx.accelerator.device
    batch = _tensors(samples, ctx.tokenizer.pad_token_id, device)
    width, mask = batch["prompt_width"], batch["mask"]
    chunk = max(1, len(samples) // config.num_mini_batches)
    parts: dict[str, list[torch.Tensor]] = {"logprobs": [], "values": [], "ref": []}
    with torch.no_grad():
        for part in _slices(len(samples), chunk):
            sub = {k: v[part] if k != "prompt_width" else v for k, v in batch.items()}
            logprobs, _, values = _forward(ctx.module, sub, width, config.temperature)
            parts["logprobs"].append(logprobs)
            parts["values"].append(values)
            parts["ref"].append(_reference_logprobs(ctx, sub, width))
    logprobs, values, ref = (torch.cat(parts[k]) for k in ("logprobs", "values", "ref"))
    kl = ppo_math.kl_k1(logprobs, ref, mask)
    rewards = ppo_math.token_rewards(scores.to(device), kl, mask, kl_coef)
    if config.whiten_rewards:
        rewards = ppo_math.masked_whiten(rewards, mask, shift_mean=False)
    advantages, returns = ppo_math.gae(rewards, values, mask, config.gamma, config.lam)
    advantages = ppo_math.masked_whiten(advantages, mask)
    return Rollout(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        mask=mask,
        prompt_width=width,
        logprobs=logprobs,
        values=values * mask,
        advantages=advantages,
        returns=returns,
        scores=scores,
        kl=kl.sum(dim=1),
    )


def _samples(ctx: _Context, policy: Any, prompts: Sequence[Any], seed: int) -> list[Sample]:
    config = ctx.config
    params = SamplingParams(
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        batch_size=max(len(prompts), 1),
        max_prompt_length=config.max_prompt_length,
        seed=seed,
    )
    samples = sample(policy, ctx.tokenizer, prompts, params)
    policy.eval()  # sample() restores the mode it found; keep dropout off regardless
    return samples


def _scores(ctx: _Context, prompts: Sequence[Any], samples: Sequence[Sample]) -> list[float]:
    return reward.score(
        ctx.judge,
        ctx.judge_tokenizer,
        [prompts[s.index] for s in samples],
        [s.text for s in samples],
        batch_size=ctx.config.reward_batch_size,
        max_length=ctx.config.max_length,
    )


def _reference_logprobs(ctx: _Context, batch: dict[str, Any], width: int) -> torch.Tensor:
    if ctx.reference is not None:
        return _forward(ctx.reference, batch, width, ctx.config.temperature)[0]
    with ctx.unwrapped.policy.disable_adapter():
        return _forward(ctx.unwrapped.policy, batch, width, ctx.config.temperature)[0]


def optimise(ctx: _Context, rollout: Rollout, optimizer: Any, scheduler: Any) -> dict[str, float]:
    """num_ppo_epochs passes of shuffled minibatch updates; the step's metrics."""
    import torch

    config = ctx.config
    n = rollout.input_ids.shape[0]
    size = max(1, math.ceil(n / config.num_mini_batches))
    sums: dict[str, float] = {}
    count = 0
    generator = torch.Generator().manual_seed(int(rollout.kl.numel()) + ctx.seed)
    for _ in range(config.num_ppo_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, size):
            rows = order[start : start + size].to(rollout.input_ids.device)
            batch = {
                "input_ids": rollout.input_ids[rows],
                "attention_mask": rollout.attention_mask[rows],
                "position_ids": rollout.position_ids[rows],
            }
            mask = rollout.mask[rows]
            logprobs, logits, values = _forward(
                ctx.module, batch, rollout.prompt_width, config.temperature
            )
            pg = ppo_math.policy_loss(
                logprobs, rollout.logprobs[rows], rollout.advantages[rows], mask, config.cliprange
            )
            vf_loss, vf_clip = ppo_math.value_loss(
                values, rollout.values[rows], rollout.returns[rows], mask, config.cliprange_value
            )
            loss = pg.loss + config.vf_coef * vf_loss
            optimizer.zero_grad()
            ctx.accelerator.backward(loss)
            if config.max_grad_norm and config.max_grad_norm > 0:
                ctx.accelerator.clip_grad_norm_(ctx.module.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                entropy = ppo_math.masked_mean(ppo_math.entropy_from_logits(logits), mask)
            for name, value in (
                ("policy_loss", pg.loss),
                ("value_loss", vf_loss),
                ("loss", loss),
                ("clip_frac", pg.clip_frac),
                ("approx_kl", pg.approx_kl),
                ("value_clip_frac", vf_clip),
                ("entropy", entropy),
            ):
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            count += 1
    metrics = {name: total / count for name, total in sums.items()}
    metrics.update(
        reward=float(rollout.scores.mean()),
        kl=float(rollout.kl.mean()),
        completion_length=float(rollout.mask.sum(dim=1).mean()),
        returns=float(ppo_math.masked_mean(rollout.returns, rollout.mask)),
        learning_rate=float(scheduler.get_last_lr()[0]),
    )
    return metrics


def heldout_metrics(ctx: _Context, prompts: Sequence[Any]) -> dict[str, float]:
    """Mean reward and KL(policy || reference) per completion on held-out prompts, sampled
    with the job's seed so successive evaluations compare like with like."""
    import torch

    policy = ctx.unwrapped.policy
    samples = _samples(ctx, policy, prompts, ctx.seed)
    scores = _scores(ctx, prompts, samples)
    batch = _tensors(samples, ctx.tokenizer.pad_token_id, ctx.accelerator.device)
    width = batch["prompt_width"]
    with torch.no_grad():
        ours = _forward(policy, batch, width, ctx.config.temperature)[0]
        theirs = _reference_logprobs(ctx, batch, width)
    kl = ppo_math.kl_k1(ours, theirs, batch["mask"]).sum(dim=1)
    return {
        "heldout_reward": sum(scores) / len(scores),
        "heldout_kl": float(kl.mean()),
        "heldout_length": float(batch["mask"].sum(dim=1).mean()),
    }


def _last_checkpoint(out_dir: Path) -> Path | None:
    from training.engine.callbacks import PREFIX, checkpoints_dir

    directory = checkpoints_dir(out_dir)
    found = (
        [p for p in directory.glob(f"{PREFIX}*") if (p / STATE_FILE).is_file()]
        if directory.is_dir()
        else []
    )
    return max(found, key=lambda p: int(p.name.removeprefix(PREFIX)), default=None)


def _save_checkpoint(
    ctx: _Context, out_dir: Path, step: int, kl_coef: float, keep: int | None
) -> Path:
    from training.engine.callbacks import PREFIX, checkpoints_dir

    directory = checkpoints_dir(out_dir)
    path = directory / f"{PREFIX}{step}"
    ctx.accelerator.save_state(str(path))
    if ctx.accelerator.is_main_process:
        state = {"step": step, "kl_coef": kl_coef}
        (path / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        if keep:
            older = sorted(
                (p for p in directory.glob(f"{PREFIX}*") if p != path),
                key=lambda p: int(p.name.removeprefix(PREFIX)),
            )
            for stale in older[: max(0, len(older) - keep + 1)]:
                shutil.rmtree(stale, ignore_errors=True)
    return path


def _save_final(ctx: _Context, trainable: models.Trainable, out_dir: Path) -> dict[str, str]:
    """The policy (full model, or adapter) with its tokenizer, and the value head beside it."""
    import torch

    ctx.accelerator.wait_for_everyone()
    unwrapped = ctx.unwrapped
    target = out_dir / ("adapter" if trainable.is_peft else "model")
    outputs = {("adapter_dir" if trainable.is_peft else "model_dir"): str(target)}
    if trainable.base_dir is not None:
        outputs["model_dir"] = str(trainable.base_dir)
    if ctx.accelerator.is_main_process:
        unwrapped.policy.save_pretrained(str(target))
        ctx.tokenizer.save_pretrained(str(target))
        torch.save(unwrapped.value_head.state_dict(), target / VALUE_HEAD_FILE)
    return outputs
