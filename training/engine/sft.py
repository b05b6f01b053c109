"""Supervised fine-tuning with trl's SFTTrainer on {"prompt", "completion"} rows.

The loss covers the completion tokens only (completion_only_loss), so the model learns to answer,
not to repeat the prompts; conversational rows go through the model's chat template.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models
from training.engine.config import SftConfig, trainer_arguments
from training.engine.jobs import JobSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    from transformers import PreTrainedModel, PreTrainedTokenizerBase

HELDOUT_FILE = "heldout.jsonl"


def run(
    spec: JobSpec,
    config: SftConfig,
    emit: Callable[..., None],
    *,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Fine-tune spec.model (or an in-memory `model`) on completions; {"outputs", "metrics"}."""
    from trl import SFTConfig, SFTTrainer

    from training.engine.callbacks import (
        EventCallback,
        checkpoints_dir,
        fit,
        heldout_metrics,
        quiet,
    )

    quiet()
    out_dir = Path(spec.out_dir)
    train, held, heldout_file = data.training_splits(
        train_file=spec.train_file,
        eval_file=spec.eval_file,
        fmt="sft",
        eval_fraction=config.eval_fraction,
        seed=spec.seed,
        heldout_path=out_dir / HELDOUT_FILE,
    )
    if tokenizer is None:
        tokenizer = models.load_tokenizer(spec.model)
    trainable = models.trainable_for(
        spec, config, task="causal_lm", out_dir=out_dir, tokenizer=tokenizer, model=model
    )
    args = SFTConfig(
        **trainer_arguments(
            config,
            output_dir=str(checkpoints_dir(out_dir)),
            seed=spec.seed,
            has_eval=held is not None,
        ),
        completion_only_loss=config.completion_only_loss,
        packing=config.packing,
    )
    callback = EventCallback(emit, out_dir=out_dir, kind=spec.kind)
    trainer = SFTTrainer(
        model=trainable.model,
        args=args,
        train_dataset=train,
        eval_dataset=held,
        processing_class=tokenizer,
        peft_config=trainable.peft_config,
        callbacks=[callback],
    )
    metrics = fit(trainer, callback, out_dir=out_dir, resume=spec.resume)
    if held is not None:
        metrics.update(heldout_metrics(trainer))
    outputs = models.save_trained(trainer, trainable, out_dir)
    if heldout_file is not None:
        outputs["eval_file"] = str(heldout_file)
    return {"outputs": outputs, "metrics": metrics}
