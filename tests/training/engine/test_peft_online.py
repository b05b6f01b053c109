"""PEFT methods on the online kinds: PPO, GRPO and RLOO with LoRA, prompt tuning, prefix tuning
and IA3 each train a step on the tiny model and save an adapter that loads back, or are refused
before any weight is loaded with a message naming the method, the kind and the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.engine import synthetic
from tests.training.engine.conftest import run_engine, spec_for
from training.engine import models
from training.engine.jobs import ModelRef

COMMON = {
    "max_steps": 1,
    "per_device_train_batch_size": 2,
    "max_new_tokens": 6,
    "learning_rate": 1e-3,
}
ONE_STEP = {
    "ppo": {**COMMON, "num_ppo_epochs": 1, "num_mini_batches": 1},
    "grpo": {**COMMON, "num_generations": 2, "eval_fraction": 0.0},
    "rloo": {**COMMON, "num_generations": 2, "eval_fraction": 0.0},
}
METHODS = {
    "lora": "LORA",
    "prompt_tuning": "PROMPT_TUNING",
    "prefix_tuning": "PREFIX_TUNING",
    "ia3": "IA3",
}


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("peft-online-prompts")
    return synthetic.write(synthetic.prompt_rows("train"), root / "prompts_train.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("kind", ["ppo", "grpo", "rloo"])
def test_each_method_trains_an_online_adapter(
    tmp_path: Path, base, trained_rm, prompts_file, kind: str, method: str
):
    rm, _ = trained_rm
    outcome = run_engine(
        spec_for(
            kind,
            tmp_path,
            base,
            method=method,
            reward_model=rm,
            train_file=str(prompts_file),
            hyperparameters=dict(ONE_STEP[kind]),
        )
    )
    assert outcome.code == 0, outcome.of("error")
    adapter = Path(outcome.done["outputs"]["adapter_dir"])
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == METHODS[method]
    loaded = models.load_model(ModelRef(path=base.path, adapter_path=str(adapter)), "causal_lm")
    assert type(loaded).__name__.startswith("PeftModel")
