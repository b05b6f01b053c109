"""GRPO and RLOO through trl's GRPOTrainer and RLOOTrainer, rewarded by a reward model.

trl can take a sequence classifier as a reward function, but it then scores prompt + completion
without the separator or EOS RewardTrainer trained with; here the reward model is wrapped as a
plain function that formats each pair with reward.score, exactly as it was trained. Prompts come
from spec.train_file (any rows with a "prompt"); per_device_train_batch_size counts prompts, each
sampled num_generations times.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models, reward
from training.engine.config import GrpoConfig, RlooConfig, trainer_arguments
from training.engine.jobs import EngineError, JobSpec

if TYPE_CHECKING:
    from collections.abc import Callable

HELDOUT_FILE = "heldout.jsonl"


def reward_function(model: Any, tokenizer: Any, *, batch_size: int, max_length: int | None):
    """A trl reward function (prompts, completions, **kwargs) -> one float per completion."""

    def reward_model(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        return reward.score(
            model, tokenizer, prompts, completions, batch_size=batch_size, max_length=max_length
        )

    return reward_model


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
    from training.engine.evaluate import load_reward_model

    quiet()
    if spec.reward_model is None:
        raise EngineError(f"A {spec.kind} job needs a reward_model to score the completions.")
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
    judge, judge_tokenizer = load_reward_model(spec.reward_model)
    scorer = reward_function(
        judge, judge_tokenizer, batch_size=config.reward_batch_size, max_length=config.max_length
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
    metrics = fit(trainer, callback, out_dir=out_dir, resume=spec.resume)
    outputs = models.save_trained(trainer, trainable, out_dir)
    if heldout_file is not None:
        outputs["eval_file"] = str(heldout_file)
    return {"outputs": outputs, "metrics": metrics}
