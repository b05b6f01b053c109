"""Judging with local models: answer-token probabilities, generation, reward scores.

Used by local AI judges (judges/services/local.py) and usable by evaluation code. Plain Python
over torch and transformers, imported inside functions; loaded models are kept per process (a
judge run asks thousands of questions of the same model).

- `answer_probabilities`: a causal LM's next-token distribution after the chat prompt,
  restricted to the first token of each answer ("A", "B", "C") and renormalised: the judge's
  verdict and its preference probability in one forward pass, with nothing to parse.
- `generate`: chat completions (for chain-of-thought judges), greedy or sampled.
- `reward_scores`: a sequence-classification reward model's scalar score per conversation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from training.engine.jobs import ModelRef

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class Generated:
    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class AnswerProbabilities:
    probabilities: dict[str, float]
    prompt_tokens: int


class ScoringError(ValueError):
    """A model that cannot judge as asked (answers sharing a first token, no tokenizer...)."""


@functools.lru_cache(maxsize=2)
def _load(path: str, adapter_path: str | None, head: str) -> tuple[Any, Any]:
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    tokenizer = AutoTokenizer.from_pretrained(adapter_path or path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if head == "reward":
        from training.engine.models import accept_past_key_values

        model = accept_past_key_values(
            AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        )
    else:
        model = AutoModelForCausalLM.from_pretrained(path)
    if adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_path)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def load(model: ModelRef, *, reward: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process for each (path, adapter, head)."""
    return _load(model.path, model.adapter_path or None, "reward" if reward else "lm")


def _max_length(model: Any, tokenizer: Any) -> int:
    limit = getattr(model.config, "max_position_embeddings", None) or 2048
    return min(limit, tokenizer.model_max_length or limit)


def render_prompt(tokenizer: Any, messages: Messages, *, generation_prompt: bool = True) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=generation_prompt
        )
    text = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)
    return text + ("\n\nAssistant:" if generation_prompt else "")


def _encode_left_truncated(tokenizer: Any, text: str, limit: int) -> list[int]:
    """Token ids of `text`, keeping the end (the question and answer format) when too long."""
    ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    return ids[-limit:]


def _first_token_ids(tokenizer: Any, answers: Sequence[str]) -> list[int]:
    ids = [tokenizer(a, add_special_tokens=False)["input_ids"][0] for a in answers]
    if len(set(ids)) != len(ids):
        raise ScoringError(f"answers {list(answers)} share a first token: cannot tell them apart")
    return ids


def _left_padded(batch: list[list[int]], pad_id: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    # Positions count real tokens only, so left padding does not shift them.
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids, mask, positions


def answer_probabilities(
    model: ModelRef,
    conversations: Sequence[Messages],
    answers: Sequence[str],
    *,
    batch_size: int = 8,
) -> list[AnswerProbabilities]:
    """For each conversation, P(answer) over `answers` for the assistant's first token."""
    import torch

    lm, tokenizer = load(model)
    limit = _max_length(lm, tokenizer) - 1
    answer_ids = _first_token_ids(tokenizer, answers)
    encoded = [
        _encode_left_truncated(tokenizer, render_prompt(tokenizer, c), limit) for c in conversations
    ]
    out: list[AnswerProbabilities] = []
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        input_ids, mask, positions = _left_padded(batch, tokenizer.pad_token_id)
        with torch.inference_mode():
            logits = lm(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits
        chosen = logits[:, -1, answer_ids].float().softmax(-1)
        for ids, row in zip(batch, chosen.tolist(), strict=True):
            probabilities = dict(zip(answers, row, strict=True))
            out.append(AnswerProbabilities(probabilities=probabilities, prompt_tokens=len(ids)))
    return out


def generate(
    model: ModelRef,
    conversations: Sequence[Messages],
    *,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[Generated]:
    """The assistant's reply to each conversation (greedy when temperature is 0)."""
    import torch

    lm, tokenizer = load(model)
    limit = _max_length(lm, tokenizer) - max_new_tokens
    if limit < 8:
        raise ScoringError(f"max_new_tokens={max_new_tokens} leaves no room for the prompt")
    torch.manual_seed(seed)
    out = []
    for conversation in conversations:
        ids = _encode_left_truncated(tokenizer, render_prompt(tokenizer, conversation), limit)
        input_ids = torch.tensor([ids])
        sampling = (
            {"do_sample": True, "temperature": temperature}
            if temperature > 0
            else {"do_sample": False}
        )
        with torch.inference_mode():
            generated = lm.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )[0, len(ids) :]
        text = tokenizer.decode(generated, skip_special_tokens=True)
        out.append(Generated(text, prompt_tokens=len(ids), completion_tokens=len(generated)))
    return out


def reward_scores(
    model: ModelRef, conversations: Sequence[Messages], *, batch_size: int = 8
) -> list[float]:
    """The reward model's score of each full conversation (ending with the assistant's reply)."""
    import torch

    rm, tokenizer = load(model, reward=True)
    limit = _max_length(rm, tokenizer)
    encoded = [
        _encode_left_truncated(
            tokenizer, render_prompt(tokenizer, c, generation_prompt=False), limit
        )
        for c in conversations
    ]
    scores: list[float] = []
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for row, ids in enumerate(batch):  # right padding: the model pools the last real token
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        with torch.inference_mode():
            logits = rm(input_ids=input_ids, attention_mask=mask).logits
        scores.extend(float(x) for x in logits[:, 0].float().tolist())
    return scores
