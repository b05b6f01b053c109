"""PPO for causal LMs, written for this project (trl 1.x removed its PPOTrainer).

Each step: sample one completion per prompt of a batch from the policy; score each with the job's
rewarder (its reward model, formatted exactly as RewardTrainer trained it, or its AI judge:
rewarders.rewarder_for); add a per-token KL penalty against the frozen reference; estimate
advantages with GAE from a value head (a linear layer on the policy's last hidden state, read from
the same forward pass as the logits); then run num_ppo_epochs passes of minibatch updates on the
clipped policy and value losses (ppo_math). Dropout stays off throughout, so the old and new
log-probabilities of an unchanged policy agree (to rounding: the no-grad pass and the updates may
batch the rows differently).

Only the completion's positions go through the LM head (logits_to_keep, where the model has it).
The reference's log-probabilities are computed without gradients, in batches of
per_device_eval_batch_size rows; so are the rollouts' log-probabilities and values, except with
one minibatch (num_mini_batches=1, the default), where the first update's forward pass over the
whole batch, through the still unchanged policy, gives them.

The reference, in order of precedence: spec.reference when it names another model; the policy
with its adapters disabled when a new LoRA / IA3 adapter is trained; otherwise a frozen copy of
the starting policy (heldout.frozen_reference). Accelerate's Accelerator places the model and
prepares it for several processes; checkpoints are Accelerator states (model, value head,
optimizer, scheduler, RNG) plus the step and KL coefficient, so a cancelled job resumes where it
stopped.

Prompts come from spec.train_file (any format with a "prompt" column); held-out prompts (the
eval_file, or eval_fraction of train_file's prompts) are scored before training, every eval_steps
and at the end as "eval" events (training.engine.heldout, shared with GRPO and RLOO):
heldout_reward (mean reward) and heldout_kl (KL to the reference, nats per completion).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models, ppo_math
from training.engine.config import PpoConfig, mixed_precision
from training.engine.generate import Sample, SamplingParams, sample
from training.engine.heldout import (
    HeldoutEvaluator,
    accepts_logits_to_keep,
    completion_tensors,
    forward_completions,
    frozen_reference,
    reference_logprobs,
    rows_of,
)
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
    from training.engine.rewarders import rewarder_for

    quiet()
    if spec.reward_model is None and spec.reward_judge is None:
        raise EngineError(
            "A ppo job needs a reward_model or a reward_judge to score the completions."
        )
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
    reference = frozen_reference(spec, policy, fresh_adapter)
    if config.gradient_checkpointing:
        policy.gradient_checkpointing_enable()

    precision = mixed_precision(config.precision)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision="bf16" if precision["bf16"] else "fp16" if precision["fp16"] else "no",
    )
    module = policy_with_value(policy, models.hidden_size(policy.config) or 0)
    module.eval()  # no dropout: see the module docstring
    total_steps = _total_steps(config, len(prompts))
    updates = total_steps * config.num_ppo_epochs * config.num_mini_batches
    optimizer = _adamw([p for p in module.parameters() if p.requires_grad], config)
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
    # after the Accelerator, which sets each process's device for the reward model to land on
    rewarder = rewarder_for(spec, batch_size=config.reward_batch_size, max_length=config.max_length)
    kl_ctl = _kl_controller(config)

    start = 0
    checkpoint = _last_checkpoint(out_dir) if spec.resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        start, kl_ctl.value = int(state["step"]), float(state["kl_coef"])

    ctx = _Context(
        accelerator,
        module,
        reference,
        tokenizer,
        rewarder,
        config,
        spec.seed,
        keep_logits=accepts_logits_to_keep(policy),
        trainable=[p for p in module.parameters() if p.requires_grad],
    )
    evaluator = HeldoutEvaluator(
        prompts=held,
        reference=reference,
        tokenizer=tokenizer,
        rewarder=rewarder,
        seed=spec.seed,
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        max_prompt_length=config.max_prompt_length,
        batch_size=config.per_device_eval_batch_size,
    )
    watch = EventCallback(emit, out_dir=out_dir, kind=spec.kind)  # cancel file and signals
    watch._install()
    started = time.monotonic()
    emit("start", kind=spec.kind, total_steps=total_steps, step=start)
    if held and start == 0:
        emit("eval", step=0, metrics=evaluator.evaluate(ctx.unwrapped.policy))
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
                emit("eval", step=step, metrics=evaluator.evaluate(ctx.unwrapped.policy))
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
        evaluated = evaluator.evaluate(ctx.unwrapped.policy)
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
    so one optimizer and one accelerator.prepare() cover both, and one forward pass gives both
    the logits and the values. (A factory, so importing this module does not import torch.)"""
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

        def forward(
            self, logits_to_keep: int | None = None, **batch: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            keep = {} if logits_to_keep is None else {"logits_to_keep": logits_to_keep}
            out = self.policy(**batch, **keep, output_hidden_states=True, use_cache=False)
            hidden = out.hidden_states[-1]
            if logits_to_keep:
                hidden = hidden[:, -logits_to_keep:]
            return out.logits, self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)

    return PolicyWithValue()


@dataclass
class _Context:
    accelerator: Any
    module: Any
    reference: Any
    tokenizer: Any
    rewarder: Any
    """(prompts, completions) -> rewards: the reward model or AI judge (rewarders)."""
    config: PpoConfig
    seed: int
    keep_logits: bool = False
    """The policy computes logits for the completion's positions only (logits_to_keep)."""
    trainable: list[Any] = field(default_factory=list)
    """The parameters the optimizer updates."""

    @property
    def unwrapped(self) -> Any:
        return self.accelerator.unwrap_model(self.module)


@dataclass
class Rollout:
    batch: dict[str, Any]
    """completion_tensors of the samples: input_ids, attention_mask, position_ids, mask (1 on
    generated tokens, [batch, completion tokens]) and prompt_width."""
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    scores: torch.Tensor
    kl: torch.Tensor
    """Per-sequence sum of the k1 KL estimate."""
    first_pass: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    """With one minibatch (the whole batch), the policy's pass that gave `logprobs` and `values`,
    graph kept: (log-probs, logits, values). The first update reuses it, since the policy has not
    changed yet."""

    @property
    def mask(self) -> torch.Tensor:
        return self.batch["mask"]


def _adamw(parameters: list[Any], config: PpoConfig) -> Any:
    """AdamW with the fused kernel where torch has one for the parameters' device and dtype, as
    transformers' Trainer (adamw_torch_fused, its default) gives the trl-based kinds."""
    import torch

    options = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    try:
        return torch.optim.AdamW(parameters, fused=True, **options)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(parameters, **options)


def _clip_and_step(ctx: _Context, optimizer: Any) -> None:
    """Clip the gradients to max_grad_norm and step. A single process without a gradient scaler
    clips and steps in torch directly: accelerate's wrappers, there to unscale fp16 gradients
    and to reduce them across processes, look up optional packages on every call, which costs
    as much as the fused AdamW step itself on a small model."""
    import torch

    accelerator, max_norm = ctx.accelerator, ctx.config.max_grad_norm
    plain = accelerator.num_processes == 1 and accelerator.scaler is None
    if max_norm and max_norm > 0:
        if plain:
            torch.nn.utils.clip_grad_norm_(ctx.trainable, max_norm)
        else:
            accelerator.clip_grad_norm_(ctx.trainable, max_norm)
    (optimizer.optimizer if plain else optimizer).step()


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
    orders: dict[int, list[int]] = {}
    for index in range((step - 1) * size, step * size):
        epoch, position = divmod(index, len(prompts))
        if epoch not in orders:
            orders[epoch] = list(range(len(prompts)))
            random.Random(seed * 7919 + epoch).shuffle(orders[epoch])
        picked.append(prompts[orders[epoch][position]])
    return picked


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
    batch = completion_tensors(samples, ctx.tokenizer.pad_token_id, device)
    mask = batch["mask"]
    first_pass = None
    if config.num_mini_batches == 1:  # the first update's forward pass doubles as this one
        first_pass = forward_completions(
            ctx.module, batch, config.temperature, logits_to_keep=ctx.keep_logits
        )
    parts: dict[str, list[torch.Tensor]] = {"logprobs": [], "values": [], "ref": []}
    with torch.no_grad():
        for part in _slices(len(samples), config.per_device_eval_batch_size):
            sub = rows_of(batch, part)
            if first_pass is None:
                logprobs, _, values = forward_completions(
                    ctx.module, sub, config.temperature, logits_to_keep=ctx.keep_logits
                )
                parts["logprobs"].append(logprobs)
                parts["values"].append(values)
            parts["ref"].append(reference_logprobs(ctx.reference, policy, sub, config.temperature))
    if first_pass is not None:
        logprobs, values = first_pass[0].detach(), first_pass[2].detach()
    else:
        logprobs, values = torch.cat(parts["logprobs"]), torch.cat(parts["values"])
    ref = torch.cat(parts["ref"])
    kl = ppo_math.kl_k1(logprobs, ref, mask)
    rewards = ppo_math.token_rewards(scores.to(device), kl, mask, kl_coef)
    if config.whiten_rewards:
        rewards = ppo_math.masked_whiten(rewards, mask, shift_mean=False)
    advantages, returns = ppo_math.gae(rewards, values, mask, config.gamma, config.lam)
    advantages = ppo_math.masked_whiten(advantages, mask)
    return Rollout(
        batch=batch,
        logprobs=logprobs,
        values=values * mask,
        advantages=advantages,
        returns=returns,
        scores=scores,
        kl=kl.sum(dim=1),
        first_pass=first_pass,
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
    return ctx.rewarder([prompts[s.index] for s in samples], [s.text for s in samples])


def optimise(ctx: _Context, rollout: Rollout, optimizer: Any, scheduler: Any) -> dict[str, float]:
    """num_ppo_epochs passes of shuffled minibatch updates; the step's metrics."""
    import torch

    config = ctx.config
    n = rollout.mask.shape[0]
    size = max(1, math.ceil(n / config.num_mini_batches))
    sums: dict[str, float] = {}
    count = 0
    generator = torch.Generator().manual_seed(int(rollout.kl.numel()) + ctx.seed)
    for _ in range(config.num_ppo_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, size):
            if rollout.first_pass is not None:  # the whole batch, through the unchanged policy
                rows, (logprobs, logits, values) = slice(None), rollout.first_pass
                rollout.first_pass = None
            else:
                rows = order[start : start + size].to(rollout.mask.device)
                logprobs, logits, values = forward_completions(
                    ctx.module,
                    rows_of(rollout.batch, rows),
                    config.temperature,
                    logits_to_keep=ctx.keep_logits,
                )
            mask = rollout.mask[rows]
            pg = ppo_math.policy_loss(
                logprobs, rollout.logprobs[rows], rollout.advantages[rows], mask, config.cliprange
            )
            vf_loss, vf_clip = ppo_math.value_loss(
                values, rollout.values[rows], rollout.returns[rows], mask, config.cliprange_value
            )
            loss = pg.loss + config.vf_coef * vf_loss
            optimizer.zero_grad()
            ctx.accelerator.backward(loss)
            _clip_and_step(ctx, optimizer)
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
