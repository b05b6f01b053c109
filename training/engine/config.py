"""One configuration dataclass per job kind, every field documented.

A JobSpec's ``hyperparameters`` override the fields of its kind's dataclass (``config_for``); an
unknown name or a value of the wrong type is an EngineError that lists what is accepted. Each field
carries its help in ``metadata["help"]`` (as trl's configs do), so the platform can render forms and
documentation from ``describe(kind)``.

Defaults are sensible for small models on a CPU: fp32, no gradient checkpointing, no reporting to
external services. Nothing here imports torch at module level.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from training.engine.jobs import EngineError

Precision = Literal["auto", "fp32", "bf16", "fp16"]


def _f(default: Any, help: str) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Fields every training kind shares: optimisation, schedule, logging, checkpoints, PEFT."""

    learning_rate: float = _f(5e-5, "Peak AdamW learning rate.")
    num_train_epochs: float = _f(1.0, "Passes over the training set (ignored when max_steps > 0).")
    max_steps: int = _f(
        -1, "Optimizer steps to train for; overrides num_train_epochs when positive."
    )
    per_device_train_batch_size: int = _f(8, "Training rows (pairs for preference data) per step.")
    per_device_eval_batch_size: int = _f(8, "Rows per forward pass when evaluating.")
    gradient_accumulation_steps: int = _f(
        1, "Batches accumulated before each optimizer step (effective batch = batch x this)."
    )
    max_length: int | None = _f(
        512,
        "Longest tokenized sequence (prompt + completion). Longer rows are truncated (SFT, DPO) or "
        "dropped (reward model, as trl's RewardTrainer does). None: no limit.",
    )
    warmup_steps: float = _f(
        0.0, "Learning-rate warmup: a number of steps, or a fraction of all steps when < 1."
    )
    lr_scheduler_type: str = _f(
        "linear", "transformers scheduler name: linear, cosine, constant, constant_with_warmup..."
    )
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm.")
    eval_fraction: float = _f(
        0.1,
        "Share of prompts held out for evaluation when the job has no eval_file (whole prompts are "
        "held out, so no evaluated prompt was trained on). 0 disables evaluation.",
    )
    eval_steps: int | None = _f(
        None, "Evaluate every this many steps; None evaluates once, at the end of training."
    )
    logging_steps: int = _f(1, "Emit a log event (loss, learning rate...) every this many steps.")
    save_steps: int = _f(
        50, "Save a checkpoint every this many steps (and always at the last step), for resume."
    )
    save_total_limit: int | None = _f(2, "Checkpoints kept on disk; older ones are deleted.")
    gradient_checkpointing: bool = _f(
        False, "Recompute activations in the backward pass: less memory, about 20% slower."
    )
    precision: Precision = _f(
        "auto",
        "Numeric precision: auto (bf16 on a GPU that supports it, else fp32), fp32, bf16, fp16.",
    )
    dataloader_num_workers: int = _f(0, "Worker processes feeding batches (0: the main process).")
    # PEFT: used by the methods lora / qlora / prompt_tuning / prefix_tuning / ia3.
    lora_r: int = _f(8, "LoRA rank: at most the model's hidden size.")
    lora_alpha: int = _f(
        16, "LoRA scaling numerator (the update is scaled by lora_alpha / lora_r)."
    )
    lora_dropout: float = _f(0.05, "Dropout on the LoRA branch.")
    target_modules: str | list[str] | None = _f(
        "all-linear",
        "Modules that get LoRA / IA3 adapters: 'all-linear' (every linear layer but the output "
        "head), a list of module names such as ['q_proj', 'v_proj'], or None for peft's default "
        "for the architecture. IA3 takes peft's default unless given a list.",
    )
    num_virtual_tokens: int = _f(
        8, "Prompt / prefix tuning: number of learned virtual tokens prepended to every input."
    )
    prompt_tuning_init_text: str | None = _f(
        None,
        "Prompt tuning: text whose token embeddings initialise the virtual tokens (None: random).",
    )


@dataclass
class RewardModelConfig(TrainConfig):
    """trl RewardTrainer on {"prompt", "chosen", "rejected"} (optional "margin") rows: a
    sequence-classification head with one output scores prompt + response."""

    learning_rate: float = _f(1e-4, "Peak AdamW learning rate (trl's RewardConfig default).")
    center_rewards_coefficient: float | None = _f(
        None,
        "Weight of a penalty on the squared mean reward, keeping rewards centred on zero "
        "(Eisenstein et al. 2023 suggest 0.01). None: no penalty.",
    )


@dataclass
class SftConfig(TrainConfig):
    """trl SFTTrainer on {"prompt", "completion"} rows, loss on the completion tokens only."""

    learning_rate: float = _f(2e-5, "Peak AdamW learning rate (trl's SFTConfig default).")
    completion_only_loss: bool = _f(
        True, "Compute the loss on completion tokens only, not on the prompt."
    )
    packing: bool = _f(False, "Pack several rows into each max_length sequence.")


@dataclass
class DpoConfig(TrainConfig):
    """trl DPOTrainer on {"prompt", "chosen", "rejected"} rows against a frozen reference."""

    learning_rate: float = _f(
        1e-6,
        "Peak AdamW learning rate (trl's DPOConfig default, for full fine-tuning; adapters "
        "usually want 10 to 100 times more).",
    )
    beta: float = _f(0.1, "Strength of the pull towards the reference: higher stays closer to it.")
    loss_type: str | list[str] = _f(
        "sigmoid",
        "trl DPO loss(es): sigmoid (DPO), hinge, ipo, exo_pair, nca_pair, robust, bco_pair, "
        "sppo_hard, aot, aot_unpaired, apo_zero, apo_down, discopop, sft, sigmoid_norm. A list "
        "combines several with loss_weights, e.g. ['sigmoid', 'sft'] with [1.0, 0.2] adds the "
        "SFT (negative log-likelihood of chosen) term of RPO.",
    )
    loss_weights: list[float] | None = _f(
        None, "One weight per loss_type entry (default 1.0 each)."
    )
    label_smoothing: float = _f(
        0.0, "Robust DPO: probability that a label is flipped; EXO: epsilon (must be > 0)."
    )
    precompute_ref_log_probs: bool = _f(
        False,
        "Compute the reference log-probabilities of every row once before training, so the "
        "reference model need not stay in memory during training.",
    )
    precompute_ref_batch_size: int | None = _f(
        None, "Batch size of that precomputation (None: the training batch size)."
    )


@dataclass
class OnlineRLConfig(TrainConfig):
    """Fields shared by the online RL kinds (PPO, GRPO, RLOO): prompts in, completions sampled
    from the policy, scored by a reward model. per_device_train_batch_size counts prompts."""

    learning_rate: float = _f(1e-5, "Peak AdamW learning rate.")
    max_new_tokens: int = _f(32, "Longest sampled completion, in tokens.")
    temperature: float = _f(
        1.0, "Sampling temperature of the rollouts (log-probabilities use the same temperature)."
    )
    reward_batch_size: int = _f(16, "Sequences scored per reward-model forward pass.")


@dataclass
class PpoConfig(OnlineRLConfig):
    """The engine's own PPO (Ziegler et al. 2019; trl 1.x has none): a value head on the policy,
    a per-token KL penalty against the frozen reference, GAE, clipped policy and value losses,
    several PPO epochs over each batch of rollouts. max_steps (or num_train_epochs over the
    prompts) counts rollout batches; gradient_accumulation_steps is not used;
    per_device_eval_batch_size bounds the rows of each no-grad pass (the reference's
    log-probabilities, the rollouts' log-probabilities and values when num_mini_batches > 1, the
    held-out evaluation)."""

    max_prompt_length: int | None = _f(
        128, "Prompts longer than this many tokens keep their end (None: no limit)."
    )
    num_ppo_epochs: int = _f(4, "Passes of PPO updates over each batch of rollouts.")
    num_mini_batches: int = _f(
        1,
        "Minibatches each batch of rollouts is cut into (one optimizer step each). 1, as in "
        "trl's former PPOTrainer and OpenAI's lm-human-preferences: more minibatches only pay "
        "with large batches of rollouts.",
    )
    kl_coef: float = _f(0.05, "Initial coefficient of the per-token KL penalty.")
    kl_controller: Literal["fixed", "adaptive"] = _f(
        "fixed",
        "fixed keeps kl_coef; adaptive (Ziegler et al.) moves it to hold the KL near kl_target.",
    )
    kl_target: float = _f(6.0, "Adaptive controller: target KL(policy || reference), nats.")
    kl_horizon: float = _f(10000.0, "Adaptive controller: horizon, in rollouts.")
    gamma: float = _f(1.0, "Discount factor of GAE.")
    lam: float = _f(0.95, "GAE lambda: bias (0) to variance (1) trade-off of the advantages.")
    cliprange: float = _f(0.2, "Clipping range of the policy ratio.")
    cliprange_value: float = _f(0.2, "Clipping range of the value updates.")
    vf_coef: float = _f(0.1, "Weight of the value loss in the total loss.")
    whiten_rewards: bool = _f(
        False, "Scale the per-token rewards to unit variance across the batch (mean kept)."
    )
    missing_eos_penalty: float | None = _f(
        None,
        "Subtracted from the score of completions cut off by max_new_tokens (None: no penalty).",
    )


@dataclass
class GrpoConfig(OnlineRLConfig):
    """trl's GRPOTrainer with the reward model as reward function: num_generations completions
    per prompt, advantages relative to the group's mean reward."""

    num_generations: int = _f(
        4, "Completions per prompt (the group); each step trains on batch size x this many."
    )
    beta: float = _f(
        0.0, "KL coefficient against the reference (trl's default 0.0 loads no reference)."
    )
    num_iterations: int = _f(1, "Optimisation passes per generated batch (mu in the paper).")
    epsilon: float = _f(0.2, "Clipping range of the policy ratio.")
    loss_type: str = _f("dapo", "trl loss aggregation: grpo, dapo, dr_grpo, bnpo...")
    scale_rewards: str = _f("group", "Reward scaling: group, batch or none.")


@dataclass
class RlooConfig(OnlineRLConfig):
    """trl's RLOOTrainer with the reward model as reward function: each completion's baseline is
    the mean reward of the prompt's other completions (leave-one-out)."""

    num_generations: int = _f(
        4, "Completions per prompt; each step trains on batch size x this many."
    )
    beta: float = _f(0.05, "KL coefficient against the reference.")
    num_iterations: int = _f(1, "Optimisation passes per generated batch.")
    epsilon: float = _f(0.2, "Clipping range of the policy ratio.")


@dataclass
class RejectionSamplingConfig:
    """Best-of-K (Llama 3.1's rejection sampling): K completions per prompt, scored by a reward
    model; the best becomes an SFT row, best and worst a preference pair."""

    num_return_sequences: int = _f(4, "Completions sampled per prompt (K).")
    temperature: float = _f(1.0, "Sampling temperature.")
    top_p: float = _f(1.0, "Nucleus sampling.")
    max_new_tokens: int = _f(64, "Longest completion, in tokens.")
    batch_size: int = _f(8, "Prompts per generate() call and sequences per scoring pass.")
    max_prompt_length: int | None = _f(
        None, "Prompts longer than this many tokens keep their end (None: no limit)."
    )
    max_length: int | None = _f(1024, "Longest prompt + completion scored by the reward model.")
    min_margin: float = _f(
        0.0,
        "A preference pair is kept only when best and worst scores differ by more than this.",
    )
    seed: int | None = _f(None, "Sampling seed; None uses the job's seed.")


@dataclass
class GenerateConfig:
    """K sampled completions per prompt of a prompt-only file, one output row per completion."""

    num_return_sequences: int = _f(4, "Completions sampled per prompt (K).")
    temperature: float = _f(1.0, "Sampling temperature; 0 means greedy decoding.")
    top_p: float = _f(1.0, "Nucleus sampling: keep the smallest token set with this much mass.")
    top_k: int | None = _f(None, "Keep only the k most likely tokens (None: no limit).")
    max_new_tokens: int = _f(128, "Longest completion, in tokens.")
    repetition_penalty: float = _f(1.0, "transformers repetition penalty (1.0: none).")
    batch_size: int = _f(8, "Prompts per generate() call (each yields K sequences).")
    max_prompt_length: int | None = _f(
        None, "Prompts longer than this many tokens keep their end (None: no limit)."
    )
    seed: int | None = _f(None, "Sampling seed; None uses the job's seed.")


@dataclass
class EvaluateRewardModelConfig:
    """Accuracy and margin of a reward model on held-out preference rows."""

    batch_size: int = _f(16, "Sequences scored per forward pass.")
    max_length: int | None = _f(
        1024, "Longer prompt + response sequences keep their first max_length tokens."
    )


@dataclass
class EvaluatePolicyConfig:
    """A policy against its parent on held-out prompts: win rate by a reward model, Monte-Carlo
    KL(policy || parent), response length, and a reward-hacking warning."""

    max_prompts: int = _f(64, "Held-out prompts evaluated (the first ones, after de-duplication).")
    samples_per_prompt: int = _f(
        2, "Completions sampled per prompt from each model; more narrows the estimates."
    )
    temperature: float = _f(
        1.0,
        "Sampling temperature. The KL estimate is unbiased only at 1.0 with top_p 1.0, where "
        "samples come from the policy itself.",
    )
    top_p: float = _f(1.0, "Nucleus sampling (keep 1.0 for an unbiased KL estimate).")
    max_new_tokens: int = _f(64, "Longest sampled completion, in tokens.")
    batch_size: int = _f(8, "Prompts per generate() call and sequences per scoring pass.")
    max_length: int | None = _f(1024, "Longest prompt + completion scored by the reward model.")
    kl_warning_threshold: float = _f(
        20.0,
        "KL(policy || parent) in nats per completion above which a win-rate gain is flagged as "
        "possible reward hacking (RLHF runs that stay close to their parent sit at a few to about "
        "ten nats).",
    )
    win_rate_warning_threshold: float = _f(
        0.5, "Win rate above which a high KL triggers the reward-hacking warning."
    )
    seed: int | None = _f(None, "Sampling seed; None uses the job's seed.")


CONFIGS: dict[str, type] = {
    "reward_model": RewardModelConfig,
    "sft": SftConfig,
    "dpo": DpoConfig,
    "ppo": PpoConfig,
    "grpo": GrpoConfig,
    "rloo": RlooConfig,
    "rejection_sampling": RejectionSamplingConfig,
    "generate": GenerateConfig,
    "evaluate_reward_model": EvaluateRewardModelConfig,
    "evaluate_policy": EvaluatePolicyConfig,
}


def config_class(kind: str) -> type:
    try:
        return CONFIGS[kind]
    except KeyError:
        raise EngineError(
            f"The engine has no configuration for job kind {kind!r}; known kinds: "
            f"{', '.join(CONFIGS)}."
        ) from None


def config_for(kind: str, overrides: dict[str, Any] | None = None) -> Any:
    """The kind's config with `overrides` applied, each checked by name and type."""
    cls = config_class(kind)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for name, value in (overrides or {}).items():
        if name not in hints:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise EngineError(
                f"Unknown hyperparameter {name!r} for a {kind} job.{hint} Accepted: "
                f"{', '.join(sorted(names))}."
            )
        values[name] = _coerce(kind, name, value, hints[name])
    config = cls(**values)
    _check_ranges(kind, config)
    return config


# name -> (low, high, low included, high included); None: unbounded on that side
RANGES: dict[str, tuple[float, float | None, bool, bool]] = {
    "eval_fraction": (0.0, 1.0, True, False),
    "learning_rate": (0.0, None, True, False),
    "per_device_train_batch_size": (1, None, True, False),
    "per_device_eval_batch_size": (1, None, True, False),
    "gradient_accumulation_steps": (1, None, True, False),
    "lora_dropout": (0.0, 1.0, True, False),
    "num_return_sequences": (1, None, True, False),
    "samples_per_prompt": (1, None, True, False),
    "max_new_tokens": (1, None, True, False),
    "batch_size": (1, None, True, False),
    "top_p": (0.0, 1.0, False, True),
    "beta": (0.0, None, False, False),
    "num_ppo_epochs": (1, None, True, False),
    "num_mini_batches": (1, None, True, False),
    "num_generations": (2, None, True, False),
    "num_iterations": (1, None, True, False),
    "kl_coef": (0.0, None, True, False),
    "kl_target": (0.0, None, False, False),
    "kl_horizon": (0.0, None, False, False),
    "gamma": (0.0, 1.0, True, True),
    "lam": (0.0, 1.0, True, True),
    "cliprange": (0.0, None, False, False),
    "cliprange_value": (0.0, None, False, False),
    "reward_batch_size": (1, None, True, False),
    "num_train_epochs": (0.0, None, False, False),
    "warmup_steps": (0.0, None, True, False),
    "weight_decay": (0.0, None, True, False),
    "logging_steps": (1, None, True, False),
    "save_steps": (1, None, True, False),
    "eval_steps": (1, None, True, False),
    "save_total_limit": (1, None, True, False),
    "temperature": (0.0, None, True, False),  # 0: greedy, where a kind allows it
}
# A KL weight of 0 is valid for GRPO / RLOO (no reference model), not for DPO's beta.
KIND_RANGES: dict[str, dict[str, tuple[float, float | None, bool, bool]]] = {
    "grpo": {"beta": (0.0, None, True, False)},
    "rloo": {"beta": (0.0, None, True, False)},
}


def _check_ranges(kind: str, config: Any) -> None:
    # -1 (the default) trains num_train_epochs; any other value below 1 would silently do so too.
    steps = getattr(config, "max_steps", -1)
    if steps != -1 and steps < 1:
        raise EngineError(
            f"Hyperparameter 'max_steps' of a {kind} job must be -1 (train num_train_epochs) "
            f"or at least 1, got {steps!r}."
        )
    for name, (low, high, low_in, high_in) in {**RANGES, **KIND_RANGES.get(kind, {})}.items():
        value = getattr(config, name, None)
        if value is None:
            continue
        above = value > low or (low_in and value == low)
        below = high is None or value < high or (high_in and value == high)
        if not (above and below):
            interval = (
                f"{'[' if low_in else '('}{low}, "
                f"{'inf' if high is None else high}{']' if high_in else ')'}"
            )
            raise EngineError(
                f"Hyperparameter {name!r} of a {kind} job must be in {interval}, got {value!r}."
            )


def describe(kind: str) -> list[dict[str, Any]]:
    """Every field of the kind's config: name, type, default and help, for forms and docs."""
    cls = config_class(kind)
    default = cls()
    hints = typing.get_type_hints(cls)
    return [
        {
            "name": f.name,
            "type": _type_name(hints[f.name]),
            "default": getattr(default, f.name),
            "help": f.metadata.get("help", ""),
        }
        for f in dataclasses.fields(cls)
    ]


def _coerce(kind: str, name: str, value: Any, hint: Any) -> Any:
    for option in _options(hint):
        ok, converted = _convert(value, option)
        if ok:
            return converted
    raise EngineError(
        f"Hyperparameter {name!r} of a {kind} job must be {_type_name(hint)}, got {value!r}."
    )


def _options(hint: Any) -> list[Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return list(typing.get_args(hint))
    return [hint]


def _convert(value: Any, option: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(option)
    if option is type(None):
        return value is None, None
    if origin is Literal:
        return value in typing.get_args(option), value
    if origin is list:
        (item,) = typing.get_args(option)
        if not isinstance(value, list):
            return False, None
        converted = [_convert(v, item) for v in value]
        return all(ok for ok, _ in converted), [v for _, v in converted]
    if option is bool:
        return isinstance(value, bool), value
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if option is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if option is str:
        return isinstance(value, str), value
    return False, None


def _type_name(hint: Any) -> str:
    options = _options(hint)
    names = []
    for option in options:
        origin = typing.get_origin(option)
        if option is type(None):
            names.append("null")
        elif origin is Literal:
            names.append(" | ".join(repr(v) for v in typing.get_args(option)))
        elif origin is list:
            names.append(f"a list of {_type_name(typing.get_args(option)[0])}")
        else:
            names.append(getattr(option, "__name__", str(option)))
    return " or ".join(names)


def mixed_precision(precision: Precision) -> dict[str, bool]:
    """TrainingArguments' bf16 / fp16 flags: fp32 on a CPU unless asked otherwise."""
    import torch

    if precision == "auto":
        cuda = torch.cuda.is_available()
        return {"bf16": bool(cuda and torch.cuda.is_bf16_supported()), "fp16": False}
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def trainer_arguments(config: TrainConfig, *, output_dir: str, seed: int, has_eval: bool) -> dict:
    """Keyword arguments shared by trl's RewardConfig, SFTConfig and DPOConfig."""
    import torch

    if has_eval and config.eval_steps:
        evaluation = {"eval_strategy": "steps", "eval_steps": config.eval_steps}
    else:
        evaluation = {"eval_strategy": "no"}
    return {
        "output_dir": output_dir,
        "seed": seed,
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "per_device_eval_batch_size": config.per_device_eval_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_length": config.max_length,
        "warmup_steps": config.warmup_steps,
        "lr_scheduler_type": config.lr_scheduler_type,
        "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        _checkpointing_name(): config.gradient_checkpointing,
        "dataloader_num_workers": config.dataloader_num_workers,
        "use_cpu": not torch.cuda.is_available(),
        "report_to": "none",
        "disable_tqdm": True,
        **evaluation,
        **mixed_precision(config.precision),
    }


def _checkpointing_name() -> str:
    """transformers 5 renamed gradient_checkpointing (kept as a deprecated alias that warns)."""
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
