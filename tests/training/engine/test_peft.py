"""PEFT methods on every training kind: LoRA, prompt tuning, prefix tuning and IA3 train a few
steps on the tiny model and save an adapter that loads back; starting adapters are continued,
merged or refused by clear rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.training.engine.conftest import DPO_FAST, RM_FAST, SFT_FAST, run_engine, spec_for
from training.engine import models, scoring
from training.engine.jobs import ModelRef

KINDS = {
    "sft": ("sft_small.jsonl", SFT_FAST, "causal_lm"),
    "dpo": ("pref_small.jsonl", DPO_FAST, "causal_lm"),
    "reward_model": ("pref_small.jsonl", RM_FAST, "seq_cls"),
}
PEFT_TYPES = {
    "lora": "LORA",
    "prompt_tuning": "PROMPT_TUNING",
    "prefix_tuning": "PREFIX_TUNING",
    "ia3": "IA3",
}


def train(tmp_path: Path, base: ModelRef, data_dir: Path, kind: str, method: str, **extra):
    file, hyper, _ = KINDS[kind]
    return run_engine(
        spec_for(
            kind,
            tmp_path,
            base,
            method=method,
            train_file=str(data_dir / file),
            hyperparameters={**hyper, "max_steps": 2, **extra},
        )
    )


@pytest.mark.parametrize("method", list(PEFT_TYPES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_method_trains_an_adapter(tmp_path: Path, base, data_dir, kind: str, method: str):
    outcome = train(tmp_path, base, data_dir, kind, method)
    assert outcome.code == 0, outcome.of("error")
    assert len(outcome.logged("loss")) == 2
    outputs = outcome.done["outputs"]
    assert "model_dir" not in outputs  # the base is unchanged: the version is base + adapter
    adapter = Path(outputs["adapter_dir"])
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == PEFT_TYPES[method]
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    if method == "lora":
        trained = [w for name, w in weights.items() if "lora_B" in name]
        assert trained and all(w.abs().sum() > 0 for w in trained)  # B starts at zero
    if kind == "reward_model":
        assert any("score" in name for name in weights)  # the new reward head travels along
    loaded = models.load_model(ModelRef(path=base.path, adapter_path=str(adapter)), KINDS[kind][2])
    assert type(loaded).__name__.startswith("PeftModel")
    if kind == "reward_model":  # and it scores, through the path evaluation and rewards use
        scores = scoring.reward_scores(
            ModelRef(path=base.path, adapter_path=str(adapter)), [CONVERSATION, CONVERSATION]
        )
        assert len(scores) == 2 and scores[0] == pytest.approx(scores[1], abs=1e-5)


CONVERSATION = [
    {"role": "user", "content": "How do I boil an egg?"},
    {"role": "assistant", "content": "Please simmer it for nine minutes."},
]


def test_prefix_tuning_reaches_a_reward_models_attention(base):
    """The prefix is not only accepted but used: the reward changes with it and its keys and
    values get gradients (peft would refuse the model, or a dropped prefix would get none)."""
    import torch
    from peft import get_peft_model

    model = models.load_model(base, "seq_cls")
    config = models.peft_config_for("prefix_tuning", _Hyper(), task="seq_cls", base_path=base.path)
    peft_model = get_peft_model(model, config)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    mask = torch.ones_like(ids)
    reward = peft_model(input_ids=ids, attention_mask=mask).logits.sum()
    reward.backward()
    grads = [p.grad for n, p in peft_model.named_parameters() if "prompt_encoder" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "prompt_encoder" in name:
                param.add_(1.0)
        moved = peft_model(input_ids=ids, attention_mask=mask).logits.sum()
    assert not torch.isclose(moved, reward.detach())


class _Hyper:
    num_virtual_tokens = 4
    target_modules = None


def test_lora_on_a_lora_policy_continues_the_same_adapter(tmp_path: Path, base, data_dir):
    first = train(tmp_path / "sft", base, data_dir, "sft", "lora")
    parent = ModelRef(path=base.path, adapter_path=first.done["outputs"]["adapter_dir"])
    second = train(tmp_path / "dpo", parent, data_dir, "dpo", "lora")
    assert second.code == 0, second.of("error")
    adapter = Path(second.done["outputs"]["adapter_dir"])
    assert "model_dir" not in second.done["outputs"]
    assert not (adapter / "ref").exists()  # DPO's frozen copy of the parent adapter stays out
    before = load_file(str(Path(parent.adapter_path) / "adapter_model.safetensors"))
    after = load_file(str(adapter / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    assert any(not before[k].equal(after[k]) for k in before)


def test_another_method_on_a_lora_policy_starts_from_the_merged_model(
    tmp_path: Path, base, data_dir
):
    first = train(tmp_path / "sft", base, data_dir, "sft", "lora")
    parent = ModelRef(path=base.path, adapter_path=first.done["outputs"]["adapter_dir"])
    second = train(tmp_path / "prefix", parent, data_dir, "sft", "prefix_tuning")
    assert second.code == 0, second.of("error")
    outputs = second.done["outputs"]
    assert Path(outputs["model_dir"], "config.json").is_file()  # the merged parent, to load under
    assert Path(outputs["adapter_dir"], "adapter_config.json").is_file()


def test_a_prompt_tuned_policy_cannot_take_another_method(tmp_path: Path, base, data_dir):
    first = train(tmp_path / "pt", base, data_dir, "sft", "prompt_tuning")
    parent = ModelRef(path=base.path, adapter_path=first.done["outputs"]["adapter_dir"])
    second = train(tmp_path / "lora", parent, data_dir, "dpo", "lora")
    assert second.code == 1
    assert "is prompt_tuning, which cannot be merged" in second.error
    assert "Train it with method 'prompt_tuning'" in second.error
