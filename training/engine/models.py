"""Models a job loads and trains: a local directory or hub id, optionally with a PEFT adapter.

A training job starts from ``spec.model`` with a method (full, lora, qlora, prompt_tuning,
prefix_tuning, ia3). When the starting model already carries an adapter:
- a policy trained with the method of that adapter continues training it (the new version is the
  same base plus the updated adapter);
- otherwise a mergeable adapter (LoRA, IA3) is merged into the base first; a new adapter then sits
  on that merged base, which is saved under out_dir/base so the result can be loaded again;
- prompt or prefix tuning adapters cannot be merged, so any other method is refused.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from training.engine.jobs import EngineError, ModelRef

if TYPE_CHECKING:
    from peft import PeftConfig
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

Task = Literal["causal_lm", "seq_cls"]
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
PEFT_TYPES = {
    "lora": "LORA",
    "qlora": "LORA",
    "prompt_tuning": "PROMPT_TUNING",
    "prefix_tuning": "PREFIX_TUNING",
    "ia3": "IA3",
}
MERGEABLE = ("LORA", "IA3")
QLORA_NEEDS = "QLoRA needs a CUDA GPU and bitsandbytes"


def resolve(path: str, role: str = "model") -> str:
    """A local model directory or a hub id, checked without loading any weights."""
    if not path or not path.strip():
        raise EngineError(f"The {role} has no path.")
    local = Path(path).expanduser()
    if local.exists():
        if not local.is_dir() or not (local / "config.json").is_file():
            raise EngineError(
                f"The {role} path {path} is not a Hugging Face model directory (no config.json)."
            )
        return str(local)
    if path.startswith(("/", ".", "~")) or not HUB_ID.match(path):
        raise EngineError(f"The {role} path {path} does not exist.")
    return path  # a hub id: from_pretrained finds it in the cache or downloads it


def _hub_error(path: str, role: str, exc: Exception) -> EngineError:
    return EngineError(
        f"The {role} {path} is neither a local directory nor loadable from the Hugging Face hub: "
        f"{exc}"
    )


def adapter_type(adapter_path: str) -> str:
    """peft_type of an adapter directory (LORA, IA3, PROMPT_TUNING, PREFIX_TUNING...)."""
    config = Path(adapter_path).expanduser() / "adapter_config.json"
    if not config.is_file():
        raise EngineError(
            f"The adapter path {adapter_path} is not a PEFT adapter (no adapter_config.json)."
        )
    return str(json.loads(config.read_text(encoding="utf-8")).get("peft_type", "")).upper()


def load_config(ref: ModelRef, role: str = "model") -> PretrainedConfig:
    from transformers import AutoConfig

    path = resolve(ref.path, role)
    try:
        return AutoConfig.from_pretrained(path)
    except OSError as exc:
        raise _hub_error(path, role, exc) from exc


def hidden_size(config: PretrainedConfig) -> int | None:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("hidden_size", "d_model", "n_embd", "dim"):
        value = getattr(text, name, None)
        if isinstance(value, int):
            return value
    return None


def load_tokenizer(ref: ModelRef, role: str = "model") -> PreTrainedTokenizerBase:
    """The model's tokenizer (the adapter's copy when it saved one), with a pad token."""
    from transformers import AutoTokenizer

    path = resolve(ref.path, role)
    source = path
    if ref.adapter_path and (Path(ref.adapter_path) / "tokenizer_config.json").is_file():
        source = ref.adapter_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise _hub_error(path, role, exc) from exc
    if tokenizer.pad_token is None:
        # Padding is masked out everywhere, so reusing EOS for it changes no result.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    ref: ModelRef,
    task: Task,
    *,
    role: str = "model",
    trainable_adapter: bool = False,
    quantization: Any = None,
    pad_token_id: int | None = None,
) -> PreTrainedModel:
    """The model (with its adapter applied, when it has one) in fp32, or 4-bit for QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    path = resolve(ref.path, role)
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if quantization is not None:
        kwargs = {"quantization_config": quantization, "dtype": torch.bfloat16}
    try:
        if task == "seq_cls":
            from trl.trainer.reward_trainer import suppress_seqcls_warning

            with suppress_seqcls_warning():
                model = AutoModelForSequenceClassification.from_pretrained(
                    path, num_labels=1, **kwargs
                )
        else:
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise _hub_error(path, role, exc) from exc
    if pad_token_id is not None:
        # Sequence classifiers find each row's last real token through pad_token_id.
        model.config.pad_token_id = pad_token_id
    if task == "seq_cls":
        accept_past_key_values(model)
    if ref.adapter_path:
        from peft import PeftModel

        adapter_type(ref.adapter_path)
        model = PeftModel.from_pretrained(model, ref.adapter_path, is_trainable=trainable_adapter)
    return model


def accept_past_key_values(model: Any) -> Any:
    """Let peft's prefix tuning reach a sequence classifier whose forward no longer names
    ``past_key_values``.

    Prefix tuning hands its trained keys and values to the model as ``past_key_values``, and
    peft refuses any model whose ``forward`` signature lacks that name. transformers 5 renamed
    the argument ``cache`` in its generic sequence-classification heads (``LlamaModel`` still
    takes the old name, with a deprecation warning), so peft 0.21 rejects every reward model
    although the backbone would accept the prefix. This binds a ``forward`` to the instance that
    names the argument and passes it on under the class's own name; models that already name it
    are left alone. A bound method, not a closure, so ``copy.deepcopy`` rebinds it to the copy.
    """
    import inspect
    import types

    names = inspect.signature(type(model).forward).parameters
    if "past_key_values" in names:
        return model
    # The new name where the class has it: the old one is deprecated and will go.
    name = "cache" if "cache" in names else "past_key_values"

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, **kwargs):
        if past_key_values is not None:
            kwargs[name] = past_key_values
        return type(self).forward(
            self, input_ids=input_ids, attention_mask=attention_mask, **kwargs
        )

    model.forward = types.MethodType(forward, model)
    return model


def peek_hidden_size(ref: ModelRef) -> int | None:
    """The hidden size in a local model's config.json, read without transformers (None for a
    hub id or an unusual config)."""
    path = Path(resolve(ref.path)) / "config.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    for section in (raw, raw.get("text_config") or {}):
        for name in ("hidden_size", "d_model", "n_embd", "dim"):
            if isinstance(section.get(name), int):
                return section[name]
    return None


def check_method(method: str, config: Any, size: int | None, path: str) -> None:
    """Fail before loading weights when the method cannot work here."""
    if method not in ("full", *PEFT_TYPES):
        raise EngineError(
            f"Unknown training method {method!r}; known: full, {', '.join(PEFT_TYPES)}."
        )
    if method == "qlora":
        qlora_quantization()
    if method in ("lora", "qlora"):
        rank = int(config.lora_r)
        if rank < 1:
            raise EngineError(f"LoRA rank lora_r must be at least 1, got {rank}.")
        if size is not None and rank > size:
            raise EngineError(
                f"LoRA rank lora_r={rank} is larger than the hidden size {size} of the model "
                f"{path}: choose lora_r <= {size}."
            )
    if method in ("prompt_tuning", "prefix_tuning") and int(config.num_virtual_tokens) < 1:
        raise EngineError(
            f"{method} needs num_virtual_tokens >= 1, got {config.num_virtual_tokens}."
        )


def qlora_quantization() -> Any:
    """4-bit NF4 quantization for QLoRA, or a clear refusal on machines that cannot run it."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise EngineError(f"{QLORA_NEEDS}: this machine has no CUDA GPU. Use method 'lora'.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise EngineError(
            f"{QLORA_NEEDS}: bitsandbytes is not installed (pip install bitsandbytes)."
        )
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def peft_config_for(method: str, config: Any, *, task: Task, base_path: str) -> PeftConfig | None:
    """The peft config of a method (None for full fine-tuning)."""
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType

    task_type = TaskType.SEQ_CLS if task == "seq_cls" else TaskType.CAUSAL_LM
    targets = config.target_modules
    if method in ("lora", "qlora"):
        return LoraConfig(
            task_type=task_type,
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=targets,
        )
    if method == "ia3":
        # peft knows which of an architecture's modules are feed-forward (scaled on their input,
        # not their output) only when it picks the targets itself; a given list is scaled on
        # the output throughout.
        explicit = isinstance(targets, list)
        return IA3Config(
            task_type=task_type,
            target_modules=targets if explicit else None,
            feedforward_modules=[] if explicit else None,
        )
    if method == "prompt_tuning":
        text = config.prompt_tuning_init_text
        return PromptTuningConfig(
            task_type=task_type,
            num_virtual_tokens=config.num_virtual_tokens,
            prompt_tuning_init="TEXT" if text else "RANDOM",
            prompt_tuning_init_text=text,
            tokenizer_name_or_path=base_path if text else None,
        )
    if method == "prefix_tuning":
        return PrefixTuningConfig(task_type=task_type, num_virtual_tokens=config.num_virtual_tokens)
    if method == "full":
        return None
    raise EngineError(f"Unknown training method {method!r}; known: full, {', '.join(PEFT_TYPES)}.")


@dataclass
class Trainable:
    """What a trainer gets: the model, the peft config to wrap it with (None when the model
    is full-trained or already a trainable PeftModel), and the merged base saved for it."""

    model: PreTrainedModel
    peft_config: PeftConfig | None
    method: str
    base_dir: Path | None = None

    @property
    def is_peft(self) -> bool:
        return self.method != "full"


def trainable_model(
    ref: ModelRef,
    method: str,
    config: Any,
    *,
    task: Task,
    out_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
) -> Trainable:
    """Load the starting model for `method`, per the adapter rules in this module's docstring."""
    model_config = load_config(ref)
    path = resolve(ref.path)
    check_method(method, config, hidden_size(model_config), path)
    quantization = qlora_quantization() if method == "qlora" else None
    pad = tokenizer.pad_token_id
    if not ref.adapter_path:
        model = load_model(ref, task, quantization=quantization, pad_token_id=pad)
        return Trainable(model, peft_config_for(method, config, task=task, base_path=path), method)

    existing = adapter_type(ref.adapter_path)
    if task == "causal_lm" and PEFT_TYPES.get(method) == existing:
        model = load_model(ref, task, trainable_adapter=True, quantization=quantization)
        return Trainable(model, None, method)
    if existing not in MERGEABLE:
        raise EngineError(
            f"The model's adapter {ref.adapter_path} is {existing.lower()}, which cannot be merged "
            f"into its base, so a {task.replace('_', ' ')} job cannot start a '{method}' run from "
            f"it. Train it with method '{_method_of(existing)}'."
        )
    if quantization is not None:
        raise EngineError(
            f"QLoRA cannot start from the adapter {ref.adapter_path}: merge it into a full model "
            "first, or train with method 'lora'."
        )
    model = load_model(ref, task, pad_token_id=pad).merge_and_unload()
    if method == "full":
        return Trainable(model, None, method)
    base_dir = out_dir / "base"
    if os.environ.get("RANK", "0") == "0":  # one writer under a multi-process launch
        model.save_pretrained(base_dir)
        tokenizer.save_pretrained(base_dir)
    return Trainable(
        model, peft_config_for(method, config, task=task, base_path=path), method, base_dir
    )


def _method_of(peft_type: str) -> str:
    return next(m for m, t in PEFT_TYPES.items() if t == peft_type and m != "qlora")


def save_trained(trainer: Any, trainable: Trainable, out_dir: Path) -> dict[str, str]:
    """Write the trained weights (and tokenizer) and say where: the "done" event's outputs."""
    from accelerate.utils import is_peft_model

    model = trainer.accelerator.unwrap_model(trainer.model)
    if is_peft_model(model) and "ref" in model.peft_config:
        model.delete_adapter("ref")  # DPO's frozen copy of a continued adapter: not a result
    if not trainable.is_peft:
        target = out_dir / "model"
        trainer.save_model(str(target))
        return {"model_dir": str(target)}
    target = out_dir / "adapter"
    trainer.save_model(str(target))
    outputs = {"adapter_dir": str(target)}
    if trainable.base_dir is not None:
        outputs["model_dir"] = str(trainable.base_dir)
    return outputs


def check_same_vocab(model: Any, other: Any, model_name: str, other_name: str) -> None:
    """Two models compared token by token (DPO's reference, KL to a parent) share a vocabulary."""
    sizes = [m.get_input_embeddings().weight.shape[0] for m in (model, other)]
    if sizes[0] != sizes[1]:
        raise EngineError(
            f"{model_name} has {sizes[0]} token embeddings and {other_name} {sizes[1]}: they are "
            "compared token by token, so they must share a tokenizer."
        )


def device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def trainable_for(
    spec: Any,
    config: Any,
    *,
    task: Task,
    out_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel | None = None,
) -> Trainable:
    """spec.model loaded for spec.method, or an in-memory `model` a library caller handed in."""
    from transformers import set_seed

    set_seed(spec.seed)  # a new reward head is initialised while loading: same seed, same head
    if model is None:
        return trainable_model(
            spec.model, spec.method, config, task=task, out_dir=out_dir, tokenizer=tokenizer
        )
    name = getattr(model.config, "_name_or_path", "") or "the in-memory model"
    check_method(spec.method, config, hidden_size(model.config), name)
    peft = peft_config_for(spec.method, config, task=task, base_path=name)
    return Trainable(model, peft, spec.method)
