"""GRPO and RLOO through trl's GRPOTrainer and RLOOTrainer, rewarded by a reward model or an AI
judge (rewarders.rewarder_for).

trl can take a sequence classifier as a reward function, but it then scores prompt + completion
without the separator or EOS RewardTrainer trained with; here the job's rewarder, which formats
each pair with reward.score exactly as the reward model was trained, is wrapped as a plain trl
reward function. Prompts come from spec.train_file (any rows with a "prompt");
per_device_train_batch_size counts prompts, each sampled num_generations times.

Held-out prompts (the eval_file, or eval_fraction of train_file's prompts) are evaluated as PPO
evaluates them (training.engine.heldout): "eval" events with heldout_reward and heldout_kl (KL to
the starting policy, nats per completion) before training, every eval_steps, and at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models
from training.engine.config import GrpoConfig, RlooConfig, trainer_arguments
from training.engine.heldout import HeldoutEvaluator, frozen_reference, heldout_callback
from training.engine.jobs import EngineError, JobSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    from training.engine.rewarders import Rewarder

HELDOUT_FILE = "heldout.jsonl"


def reward_function(rewarder: Rewarder, name: str = "reward_model") -> Callable[..., list[float]]:
    """A trl reward function (prompts, completions, **kwargs) -> one float per completion; trl
    logs its rewards under `name`."""

    def score(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        return rewarder(prompts, completions)

    score.__name__ = name
    return score


def run_grpo(spec: JobSpec, config: GrpoConfig, emit: Callable[..., None]) -> dict[str, Any]:
    from trl import GRPOConfig, GRPOTrainer

    extra = {"loss_type": config.loss_type, "scale_rewards": config.scale_rewards}
    return _run(spec, config, emit, GRPOTrainer, GRPOConfig, extra)


def run_rloo(spec: JobSpec, config: RlooConfig, emit: Callable[..., None]) -> dict[str, Any]:
    from trl import RLOOConfig, RLOOTrainer

    return _run(spec, config, emit, RLOOTrainer, RLOOConfig, {})


def _run(
    spec: JobSpec,
    config: GrpoConfig | RlooConfig,
    emit: Callable[..., None],
    trainer_cls: Any,
    args_cls: Any,
    extra: dict[str, Any],
) -> dict[str, Any]:
    from training.engine.callbacks import EventCallback, checkpoints_dir, fit, quiet
    from training.engine.rewarders import rewarder_for

    quiet()
    if spec.reward_model is None and spec.reward_judge is None:
        raise EngineError(
            f"A {spec.kind} job needs a reward_model or a reward_judge to score the completions."
        )
    out_dir = Path(spec.out_dir)
    train, held, heldout_file = data.training_splits(
        train_file=spec.train_file,
        eval_file=spec.eval_file,
        fmt="prompt",
        eval_fraction=config.eval_fraction,
        seed=spec.seed,
        heldout_path=out_dir / HELDOUT_FILE,
    )
    train = train.select_columns(["prompt"])
    tokenizer = models.load_tokenizer(spec.model)
    trainable = models.trainable_for(
        spec, config, task="causal_lm", out_dir=out_dir, tokenizer=tokenizer
    )
    rewarder = rewarder_for(spec, batch_size=config.reward_batch_size, max_length=config.max_length)
    scorer = reward_function(
        rewarder, "reward_judge" if spec.reward_judge is not None else "reward_model"
    )
    arguments = trainer_arguments(
        config, output_dir=str(checkpoints_dir(out_dir)), seed=spec.seed, has_eval=False
    )
    arguments.pop("max_length")  # trl's online configs bound completions, not sequences
    arguments["per_device_train_batch_size"] = (
        config.per_device_train_batch_size * config.num_generations
    )
    args = args_cls(
        **arguments,
        num_generations=config.num_generations,
        max_completion_length=config.max_new_tokens,
        temperature=config.temperature,
        beta=config.beta,
        num_iterations=config.num_iterations,
        epsilon=config.epsilon,
        **extra,
    )
    evaluator = _evaluator(spec, config, held, trainable, tokenizer, rewarder)
    callback = EventCallback(emit, out_dir=out_dir, kind=spec.kind)
    trainer = trainer_cls(
        model=trainable.model,
        reward_funcs=scorer,
        args=args,
        train_dataset=train,
        processing_class=tokenizer,
        peft_config=trainable.peft_config,
        callbacks=[callback],
    )

    def policy() -> Any:
        return trainer.accelerator.unwrap_model(trainer.model)

    if evaluator:
        if evaluator.reference is not None:
            evaluator.reference = evaluator.reference.to(trainer.accelerator.device)
        # after the EventCallback, so the "start" event comes before the first "eval"
        trainer.add_callback(
            heldout_callback(evaluator, emit, eval_steps=config.eval_steps, model=policy)
        )
    metrics = fit(trainer, callback, out_dir=out_dir, resume=spec.resume)
    if evaluator:
        evaluated = evaluator.evaluate(policy())
        emit("eval", step=trainer.state.global_step, metrics=evaluated)
        metrics.update(evaluated)
    outputs = models.save_trained(trainer, trainable, out_dir)
    if heldout_file is not None:
        outputs["eval_file"] = str(heldout_file)
    return {"outputs": outputs, "metrics": metrics}


def _evaluator(
    spec: JobSpec,
    config: GrpoConfig | RlooConfig,
    held: Any,
    trainable: models.Trainable,
    tokenizer: Any,
    rewarder: Rewarder,
) -> HeldoutEvaluator | None:
    """The held-out evaluation, None without held-out prompts. Its reference is a copy of the
    starting policy taken now, before the trainer wraps and trains it (or the base under a new
    adapter, or spec.reference), as PPO's."""
    prompts = [r["prompt"] for r in data.unique_prompts(held.to_list())] if held else []
    if not prompts:
        return None
    return HeldoutEvaluator(
        prompts=prompts,
        reference=frozen_reference(spec, trainable.model, trainable.peft_config is not None),
        tokenizer=tokenizer,
        rewarder=rewarder,
        seed=spec.seed,
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.per_device_eval_batch_size,
    )
