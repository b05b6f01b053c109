"""Reward models: training with trl's RewardTrainer, and scoring texts exactly as it trained.

The model is AutoModelForSequenceClassification with num_labels=1 on top of a causal LM checkpoint
(a new, randomly initialised "score" head). A reward is read at each sequence's last real token,
so the pad token must be set: the tokenizer's, else its EOS.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models
from training.engine.config import RewardModelConfig, trainer_arguments
from training.engine.jobs import JobSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from transformers import PreTrainedModel, PreTrainedTokenizerBase

HELDOUT_FILE = "heldout.jsonl"


def run(
    spec: JobSpec,
    config: RewardModelConfig,
    emit: Callable[..., None],
    *,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> dict[str, Any]:
    """Train a reward model on preference rows; returns {"outputs", "metrics"}.

    `model` and `tokenizer` let a library caller train a model it holds in memory (a sequence
    classifier with num_labels=1); otherwise spec.model is loaded.
    """
    from trl import RewardConfig, RewardTrainer

    from training.engine.callbacks import EventCallback, checkpoints_dir, fit, quiet

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
        spec, config, task="seq_cls", out_dir=out_dir, tokenizer=tokenizer, model=model
    )
    args = RewardConfig(
        **trainer_arguments(
            config,
            output_dir=str(checkpoints_dir(out_dir)),
            seed=spec.seed,
            has_eval=held is not None,
        ),
        center_rewards_coefficient=config.center_rewards_coefficient,
    )
    callback = EventCallback(emit, out_dir=out_dir, kind=spec.kind)
    trainer = RewardTrainer(
        model=trainable.model,
        args=args,
        data_collator=left_padding_collator(tokenizer) if spec.method == "prompt_tuning" else None,
        train_dataset=train,
        eval_dataset=held,
        processing_class=tokenizer,
        peft_config=trainable.peft_config,
        callbacks=[callback],
    )
    metrics = fit(trainer, callback, out_dir=out_dir, resume=spec.resume)
    outputs = models.save_trained(trainer, trainable, out_dir)
    if heldout_file is not None:
        outputs["eval_file"] = str(heldout_file)
    if held is not None:
        scored = preference_metrics(
            trainer.accelerator.unwrap_model(trainer.model),
            tokenizer,
            held.to_list(),
            batch_size=config.per_device_eval_batch_size,
            max_length=config.max_length,
        )
        metrics.update({f"heldout_{k}": v for k, v in scored.items()})
        emit("eval", step=int(metrics["global_step"]), metrics=scored)
    return {"outputs": outputs, "metrics": metrics}


def left_padding_collator(tokenizer: PreTrainedTokenizerBase) -> Any:
    """trl's preference collator, padding on the left.

    Prompt tuning feeds the classifier embeddings, not token ids, so it cannot find each row's
    last real token and reads the reward at the last position: with trl's right padding that is
    a pad token for every row shorter than the longest.
    """
    import torch
    from trl.trainer.reward_trainer import DataCollatorForPreference
    from trl.trainer.utils import pad

    class LeftPadded(DataCollatorForPreference):
        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            ids = [torch.tensor(e["chosen_ids"]) for e in examples]
            ids += [torch.tensor(e["rejected_ids"]) for e in examples]
            masks = [torch.ones_like(i) for i in ids]
            output = {
                "input_ids": pad(ids, padding_value=self.pad_token_id, padding_side="left"),
                "attention_mask": pad(masks, padding_value=0, padding_side="left"),
            }
            if "margin" in examples[0]:
                output["margin"] = torch.tensor([e["margin"] for e in examples], dtype=torch.float)
            return output

    return LeftPadded(pad_token_id=tokenizer.pad_token_id)


def reward_input_ids(tokenizer: PreTrainedTokenizerBase, prompt: Any, completion: Any) -> list[int]:
    """Token ids of prompt + completion as RewardTrainer builds them: the chat template over the
    messages for conversational rows, else the plain concatenation ending with EOS."""
    if isinstance(prompt, list):
        if isinstance(completion, str):
            completion = [{"role": "assistant", "content": completion}]
        return list(
            tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
    if not isinstance(completion, str):
        completion = "".join(str(m.get("content", "")) for m in completion)
    text = prompt + completion
    if not text.endswith(tokenizer.eos_token):
        text += tokenizer.eos_token
    return list(tokenizer(text=text)["input_ids"])


def score(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Any],
    completions: Sequence[Any],
    *,
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[float]:
    """One reward per (prompt, completion), read from the reward model in eval mode."""
    import torch

    sequences = [
        reward_input_ids(tokenizer, p, c) for p, c in zip(prompts, completions, strict=True)
    ]
    if max_length:
        sequences = [s[:max_length] for s in sequences]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    rewards: list[float] = []
    try:
        with torch.no_grad():
            for start in range(0, len(sequences), batch_size):
                batch = _left_padded(sequences[start : start + batch_size], tokenizer.pad_token_id)
                if _is_prompt_learning(model):
                    del batch["position_ids"]  # peft ignores them there, with a warning
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = model(**batch).logits
                rewards.extend(logits[:, 0].float().tolist())
    finally:
        model.train(was_training)
    return rewards


def _left_padded(sequences: list[list[int]], pad_id: int) -> dict[str, Any]:
    """Left padding puts every row's last token at the last position, which is where a
    sequence classifier fed embeddings (prompt tuning) reads the reward; position ids restart
    at each row's first real token so absolute-position models see what they trained on."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions}


def _is_prompt_learning(model: Any) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def preference_metrics(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    *,
    batch_size: int = 16,
    max_length: int | None = None,
) -> dict[str, float]:
    """Accuracy (chosen scored strictly above rejected), mean margin and mean rewards."""
    prompts = [r["prompt"] for r in rows]
    chosen = score(
        model,
        tokenizer,
        prompts,
        [r["chosen"] for r in rows],
        batch_size=batch_size,
        max_length=max_length,
    )
    rejected = score(
        model,
        tokenizer,
        prompts,
        [r["rejected"] for r in rows],
        batch_size=batch_size,
        max_length=max_length,
    )
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    n = len(rows)
    return {
        "accuracy": sum(m > 0 for m in margins) / n,
        "mean_margin": sum(margins) / n,
        "mean_reward_chosen": sum(chosen) / n,
        "mean_reward_rejected": sum(rejected) / n,
        "pairs": float(n),
    }
