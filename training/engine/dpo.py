"""Direct Preference Optimization with trl's DPOTrainer on {"prompt", "chosen", "rejected"} rows.

The reference policy, in order of precedence:
- an in-memory `ref_model` a library caller passes;
- spec.reference when it names another model than spec.model (loaded from disk);
- with a PEFT method, the policy itself with its new adapter disabled (or trl's frozen "ref" copy
  of an adapter that continues training): no second model in memory;
- with precompute_ref_log_probs, the policy before its first step, run once over the data;
- otherwise a frozen copy of the starting policy as it is in memory. trl's own default reloads
  the policy from config._name_or_path, which is wrong for a model that changed in memory (or
  was merged from an adapter) and impossible for one that was never saved.
The SFT term of the loss comes with loss_type=["sigmoid", "sft"] and loss_weights (trl 1.x).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models
from training.engine.config import DpoConfig, trainer_arguments
from training.engine.jobs import JobSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    from transformers import PreTrainedModel, PreTrainedTokenizerBase

HELDOUT_FILE = "heldout.jsonl"


def run(
    spec: JobSpec,
    config: DpoConfig,
    emit: Callable[..., None],
    *,
    model: PreTrainedModel | None = None,
    ref_model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Train spec.model (or an in-memory `model`) with DPO; returns {"outputs", "metrics"}."""
    from trl import DPOConfig, DPOTrainer

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
        fmt="preference",
        eval_fraction=config.eval_fraction,
        seed=spec.seed,
        heldout_path=out_dir / HELDOUT_FILE,
    )
    if tokenizer is None:
        tokenizer = models.load_tokenizer(spec.model)
    trainable = models.trainable_for(
        spec, config, task="causal_lm", out_dir=out_dir, tokenizer=tokenizer, model=model
    )
    reference = ref_model if ref_model is not None else reference_for(spec, config, trainable)
    loss_types = [config.loss_type] if isinstance(config.loss_type, str) else config.loss_type
    args = DPOConfig(
        **trainer_arguments(
            config,
            output_dir=str(checkpoints_dir(out_dir)),
            seed=spec.seed,
            has_eval=held is not None,
        ),
        beta=config.beta,
        loss_type=list(loss_types),
        loss_weights=config.loss_weights,
        label_smoothing=config.label_smoothing,
        precompute_ref_log_probs=config.precompute_ref_log_probs,
        precompute_ref_batch_size=config.precompute_ref_batch_size,
    )
    callback = EventCallback(emit, out_dir=out_dir, kind=spec.kind)
    trainer = DPOTrainer(
        model=trainable.model,
        ref_model=reference,
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


def reference_for(
    spec: JobSpec, config: DpoConfig, trainable: models.Trainable
) -> PreTrainedModel | None:
    """The reference model to hand to DPOTrainer (None: trl derives it, see the module doc)."""
    if spec.reference is not None and spec.reference != spec.model:
        reference = models.load_model(spec.reference, "causal_lm", role="reference model")
        models.check_same_vocab(
            trainable.model,
            reference,
            f"The policy {spec.model.path}",
            f"the reference model {spec.reference.path}",
        )
        return _frozen(reference)
    if trainable.is_peft or config.precompute_ref_log_probs:
        return None
    return _frozen(copy.deepcopy(trainable.model))


def _frozen(model: PreTrainedModel) -> PreTrainedModel:
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model
