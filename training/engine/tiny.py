"""A tiny Llama-family chat model built offline, so the project and its tests never need a hub.

``build_tiny_model`` trains a byte-level BPE tokenizer on a corpus, gives it a ChatML-like chat
template that trl's assistant-only loss understands, pre-trains a small ``LlamaForCausalLM`` on the
corpus rendered through that template, and saves a directory that ``AutoTokenizer``,
``AutoModelForCausalLM`` and ``AutoModelForSequenceClassification`` load like any hub checkpoint.

Corpus documents are conversations written as role-prefixed lines (see ``parse_document``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
ROLES = ("system", "user", "assistant")
ROLE_TOKENS = tuple(f"<|{role}|>" for role in ROLES)
SPECIAL_TOKENS = (PAD, BOS, EOS, *ROLE_TOKENS)

# The file written last by a build: its presence with a matching fingerprint means "up to date".
MARKER_NAME = "tiny-build.json"
# Bump when the recipe below changes, so builds made by older code count as stale.
RECIPE_VERSION = 1

# ChatML-like: <|bos|> then, per message, <|role|>\n content <|eos|>\n. The assistant's content and
# its <|eos|> sit inside {% generation %} so trl's assistant_only_loss masks exactly what the model
# must write, stop token included; the prompt rendered with add_generation_prompt is a token
# prefix of the full conversation, which DPOTrainer and SFTTrainer's completion split rely on.
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{- raise_exception('The tiny chat template knows the roles system, user and assistant, "
    "not ' + message['role']) }}"
    "{%- endif %}"
    "{{- '<|' + message['role'] + '|>\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- generation %}{{- message['content'] + eos_token }}{%- endgeneration %}"
    "{%- else %}"
    "{{- message['content'] + eos_token }}"
    "{%- endif %}"
    "{{- '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
)

# What save_pretrained writes for this model and tokenizer; a build missing one is not finished.
_BUILD_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

_ROLE_LINE = re.compile(r"^(system|user|assistant):[ \t]?", re.IGNORECASE)


@dataclass
class TinyModelConfig:
    """Shape and training recipe of the tiny model; every field feeds the build's fingerprint."""

    vocab_size: int = 1024
    """Target tokenizer size, special tokens and the 256 byte symbols included. A small corpus may
    yield fewer merges; the model's embedding matches the tokenizer actually trained."""
    hidden_size: int = 64
    """Width of the residual stream (LlamaConfig.hidden_size)."""
    intermediate_size: int = 172
    """Width of each SwiGLU MLP."""
    num_hidden_layers: int = 2
    """Number of transformer blocks."""
    num_attention_heads: int = 4
    """Query heads per block; hidden_size must divide by it."""
    num_key_value_heads: int = 2
    """Key/value heads (grouped-query attention); num_attention_heads must divide by it."""
    max_position_embeddings: int = 512
    """Longest sequence the model and tokenizer accept (also the tokenizer's model_max_length)."""
    tie_word_embeddings: bool = False
    """Share the input embedding with the LM head (Llama's default is not to)."""
    train_steps: int = 300
    """Optimizer steps of the pre-training run; 0 saves the randomly initialised model."""
    learning_rate: float = 1e-2
    """Peak AdamW learning rate, reached after warmup and decayed along a cosine to zero."""
    warmup_steps: int = 6
    """Steps of linear learning-rate warmup."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    batch_size: int = 16
    """Conversations per step, padded to the longest one in the batch."""
    max_seq_length: int = 256
    """Token cut-off for each training conversation."""
    min_frequency: int = 2
    """A BPE merge must occur at least this often in the corpus to be learned."""
    seed: int = 0
    """Seeds weight initialisation and batch sampling, so equal configs give equal models."""


def parse_document(doc: str) -> list[dict[str, str]]:
    """Split a corpus document into chat messages.

    A line starting with ``System:``, ``User:`` or ``Assistant:`` (any case) opens a message of that
    role; other lines continue the message above. A document without any role prefix is one
    assistant message, so plain prose still trains the model to write and then stop.
    """
    messages: list[dict[str, str]] = []
    lines: list[str] = []
    for line in doc.split("\n"):
        match = _ROLE_LINE.match(line)
        if match:
            if messages:
                messages[-1]["content"] = "\n".join(lines)
            messages.append({"role": match.group(1).lower(), "content": ""})
            lines = [line[match.end() :]]
        else:
            lines.append(line)
    if not messages:
        return [{"role": "assistant", "content": doc.strip("\n")}]
    messages[-1]["content"] = "\n".join(lines).rstrip("\n")
    return messages


def read_corpus_files(paths: Iterable[Path]) -> list[str]:
    """Documents from UTF-8 text files, separated by blank lines."""
    docs: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"Corpus file {path} is not UTF-8 text: {exc.reason}.") from exc
        docs.extend(d.strip("\n") for d in re.split(r"\n(?:[ \t]*\n)+", text) if d.strip())
    return docs


def build_fingerprint(config: TinyModelConfig, corpus: Sequence[str]) -> str:
    """A hash of the config and the corpus: two builds with the same fingerprint are the same."""
    payload = json.dumps(
        {"recipe": RECIPE_VERSION, "config": asdict(config), "corpus": list(corpus)}, sort_keys=True
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def build_summary(out_dir: Path) -> dict[str, Any] | None:
    """The marker of a finished build in out_dir (fingerprint, config, sizes, losses, seconds),
    or None when there is no finished build there."""
    try:
        return json.loads((Path(out_dir) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_up_to_date(out_dir: Path, fingerprint: str) -> bool:
    """Whether out_dir holds a finished build with this fingerprint, its files still in place."""
    summary = build_summary(out_dir)
    if summary is None or summary.get("fingerprint") != fingerprint:
        return False
    return all((Path(out_dir) / name).is_file() for name in _BUILD_FILES)


def build_tiny_model(
    config: TinyModelConfig,
    out_dir: Path,
    corpus: Iterable[str] | None = None,
    on_log: Callable[[dict], None] | None = None,
) -> Path:
    """Train tokenizer and model on the corpus (the built-in one by default) and save to out_dir.

    on_log receives ``{"step", "loss", "learning_rate"}`` after every optimizer step. The marker
    file is written last, so an interrupted build is never taken for a finished one.
    """
    import torch

    from training.engine.corpus import default_corpus

    docs = list(corpus) if corpus is not None else default_corpus()
    if not docs:
        raise ValueError("The corpus for the tiny model is empty: pass at least one document.")
    _check_shape(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER_NAME).unlink(missing_ok=True)

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    tokenizer = train_tokenizer(docs, config)
    model = _new_model(config, tokenizer)
    conversations = [parse_document(doc) for doc in docs]
    # One thread: a 64-wide model has little to split, and on a shared 2-core machine two spinning
    # OpenMP threads made the build over 6x slower than one (130 s against 20 s, measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        losses = _pretrain(model, tokenizer, conversations, config, on_log)
    finally:
        torch.set_num_threads(threads)

    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    marker = {
        "fingerprint": build_fingerprint(config, docs),
        "config": asdict(config),
        "documents": len(docs),
        "vocab_size": len(tokenizer),
        "parameters": sum(p.numel() for p in model.parameters()),
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out_dir / MARKER_NAME).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return out_dir


def _check_shape(config: TinyModelConfig) -> None:
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            f"TinyModelConfig: hidden_size {config.hidden_size} is not divisible by "
            f"num_attention_heads {config.num_attention_heads}."
        )
    if config.num_attention_heads % config.num_key_value_heads:
        raise ValueError(
            f"TinyModelConfig: num_attention_heads {config.num_attention_heads} is not divisible "
            f"by num_key_value_heads {config.num_key_value_heads}."
        )
    if config.vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(
            f"TinyModelConfig: vocab_size {config.vocab_size} leaves no room for the 256 byte "
            f"symbols and {len(SPECIAL_TOKENS)} special tokens."
        )


def train_tokenizer(docs: Sequence[str], config: TinyModelConfig) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer trained on docs: every byte is in the alphabet, so any text
    round-trips exactly, and no normalizer or prefix space alters it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps character offsets exact, which assistant-token masks are built from.
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(docs, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS),
        chat_template=CHAT_TEMPLATE,
        model_max_length=config.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )


def _new_model(config: TinyModelConfig, tokenizer: PreTrainedTokenizerBase) -> LlamaForCausalLM:
    from transformers import LlamaConfig, LlamaForCausalLM

    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=config.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        # Set here so AutoModelForSequenceClassification finds each sequence's last real token.
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(model_config)
    generation = model.generation_config
    generation.bos_token_id = tokenizer.bos_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.pad_token_id = tokenizer.pad_token_id
    return model


def _pretrain(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerBase,
    conversations: list[list[dict[str, str]]],
    config: TinyModelConfig,
    on_log: Callable[[dict], None] | None,
) -> list[float]:
    """Causal-LM loss on every token of each rendered conversation but padding."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    if config.train_steps <= 0:
        return []
    sequences = [
        _render_ids(tokenizer, messages)[: config.max_seq_length] for messages in conversations
    ]
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.learning_rate,
        betas=(0.9, 0.95),
        weight_decay=config.weight_decay,
    )
    schedule = get_cosine_schedule_with_warmup(
        optimizer, min(config.warmup_steps, config.train_steps), config.train_steps
    )
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    losses: list[float] = []
    order: list[int] = []
    for step in range(1, config.train_steps + 1):
        if len(order) < config.batch_size:
            order += torch.randperm(len(sequences), generator=generator).tolist()
        batch, order = order[: config.batch_size], order[config.batch_size :]
        input_ids, attention_mask, labels = _collate(
            [sequences[i] for i in batch], tokenizer.pad_token_id
        )
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        value = loss.item()
        if not math.isfinite(value):
            raise RuntimeError(
                f"Tiny model pre-training diverged at step {step} (loss {value}): lower "
                f"TinyModelConfig.learning_rate (now {config.learning_rate})."
            )
        losses.append(value)
        if on_log is not None:
            on_log({"step": step, "loss": value, "learning_rate": schedule.get_last_lr()[0]})
    model.eval()
    return losses


def _render_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _collate(sequences: list[list[int]], pad_id: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention_mask[row, : len(seq)] = 1
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    return input_ids, attention_mask, labels
