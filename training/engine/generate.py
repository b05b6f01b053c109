"""Sampling completions from a causal LM: K per prompt, batched, seeded.

Prompts are tokenized as trl's trainers tokenize them, so a policy samples in the format it was
trained on: a conversational prompt (a list of messages) goes through the chat template with the
generation prompt; a standard prompt (a string) is used verbatim.

The "generate" job writes one row per completion to out_dir/generations.jsonl:
{<the prompt row's other columns, e.g. "prompt_id">, "prompt", "completion" (text), "sample",
"finish_reason" ("stop" | "length"), "num_tokens", "seed"}.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.engine import data, models
from training.engine.config import GenerateConfig
from training.engine.jobs import JobSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

OUTPUT_FILE = "generations.jsonl"


@dataclass
class Sample:
    index: int
    """Position of the prompt in the list sampled from."""
    sample: int
    """0..K-1 among the prompt's completions."""
    prompt_ids: list[int]
    completion_ids: list[int]
    """Generated tokens up to and including the stop token; no padding."""
    text: str
    finish_reason: str
    """"stop" when a stop token ended it, "length" when max_new_tokens did."""


@dataclass
class SamplingParams:
    num_return_sequences: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    max_new_tokens: int = 128
    repetition_penalty: float = 1.0
    batch_size: int = 8
    max_prompt_length: int | None = None
    seed: int = 0


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompt: Any) -> list[int]:
    """The prompt's tokens as DPOTrainer / RewardTrainer tokenize it."""
    if isinstance(prompt, list):
        rendered = tokenizer.apply_chat_template(
            prompt, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(rendered["input_ids"])
    return list(tokenizer(text=prompt)["input_ids"])


def stop_token_ids(model: Any, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """EOS from the tokenizer and the model's generation config (chat models may add their own
    end-of-turn tokens there)."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return sorted(i for i in ids if i is not None)


def sample(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Any],
    params: SamplingParams,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> list[Sample]:
    """K completions per prompt. on_batch(batches_done, batches_total, tokens_generated)."""
    import torch
    from transformers import GenerationConfig, set_seed

    set_seed(params.seed)
    stops = stop_token_ids(model, tokenizer)
    greedy = params.temperature <= 0
    generation = GenerationConfig(
        do_sample=not greedy,
        temperature=None if greedy else params.temperature,
        top_p=None if greedy else params.top_p,
        top_k=None if greedy else (params.top_k or 0),  # 0: no top-k cut (transformers' is 50)
        max_new_tokens=params.max_new_tokens,
        num_return_sequences=params.num_return_sequences,
        repetition_penalty=params.repetition_penalty,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=stops,
    )
    encoded = [prompt_ids(tokenizer, p) for p in prompts]
    if params.max_prompt_length:
        encoded = [ids[-params.max_prompt_length :] for ids in encoded]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    samples: list[Sample] = []
    batches = range(0, len(encoded), params.batch_size)
    tokens = 0
    try:
        for done, start in enumerate(batches, start=1):
            chunk = encoded[start : start + params.batch_size]
            width = max(len(ids) for ids in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, ids in enumerate(chunk):
                input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                attention[row, width - len(ids) :] = 1
            with torch.no_grad():
                output = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    generation_config=generation,
                )
            new = output[:, width:].tolist()
            for flat, generated in enumerate(new):
                row, k = divmod(flat, params.num_return_sequences)
                item = _sample(start + row, k, chunk[row], generated, stops, tokenizer)
                tokens += len(item.completion_ids)
                samples.append(item)
            if on_batch is not None:
                on_batch(done, len(batches), tokens)
    finally:
        model.train(was_training)
    return samples


def _sample(
    index: int,
    k: int,
    prompt: list[int],
    generated: list[int],
    stops: list[int],
    tokenizer: PreTrainedTokenizerBase,
) -> Sample:
    end = next((i for i, t in enumerate(generated) if t in stops), None)
    if end is None:
        completion, reason = generated, "length"
        body = completion
    else:
        completion, reason = generated[: end + 1], "stop"
        body = generated[:end]
    text = tokenizer.decode(body, skip_special_tokens=True)
    return Sample(index, k, list(prompt), list(completion), text, reason)


def run(spec: JobSpec, config: GenerateConfig, emit: Callable[..., None]) -> dict[str, Any]:
    """The "generate" job: K completions per prompt row of spec.train_file."""
    out_dir = Path(spec.out_dir)
    rows = data.read_jsonl(spec.train_file, role="prompt file")
    data.check_rows(rows, "prompt", source=f"prompt file {spec.train_file}")
    tokenizer = models.load_tokenizer(spec.model)
    model = models.load_model(spec.model, "causal_lm").to(models.device())
    seed = spec.seed if config.seed is None else config.seed
    params = SamplingParams(
        num_return_sequences=config.num_return_sequences,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        max_new_tokens=config.max_new_tokens,
        repetition_penalty=config.repetition_penalty,
        batch_size=config.batch_size,
        max_prompt_length=config.max_prompt_length,
        seed=seed,
    )
    started = time.monotonic()
    total = -(-len(rows) // config.batch_size)
    emit("start", kind=spec.kind, total_steps=total, step=0)

    def progress(done: int, total: int, tokens: int) -> None:
        elapsed = time.monotonic() - started
        emit(
            "log",
            step=done,
            total_steps=total,
            metrics={"tokens": float(tokens), "tokens_per_second": tokens / max(elapsed, 1e-9)},
            elapsed_s=round(elapsed, 3),
            eta_s=round(elapsed / done * (total - done), 1),
        )

    samples = sample(model, tokenizer, [r["prompt"] for r in rows], params, progress)
    elapsed = time.monotonic() - started
    out_rows = [
        {
            **rows[s.index],
            "completion": s.text,
            "sample": s.sample,
            "finish_reason": s.finish_reason,
            "num_tokens": len(s.completion_ids),
            "seed": seed,
        }
        for s in samples
    ]
    path = data.write_jsonl(out_rows, out_dir / OUTPUT_FILE)
    tokens = sum(len(s.completion_ids) for s in samples)
    metrics = {
        "prompts": float(len(rows)),
        "completions": float(len(samples)),
        "mean_completion_tokens": tokens / max(len(samples), 1),
        "stopped_fraction": sum(s.finish_reason == "stop" for s in samples) / max(len(samples), 1),
        "generation_seconds": elapsed,
        "tokens_per_second": tokens / max(elapsed, 1e-9),
    }
    return {"outputs": {"data_file": str(path)}, "metrics": metrics, "params": vars(params)}
