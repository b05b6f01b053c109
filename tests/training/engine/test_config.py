"""Job configs: overrides checked by name and type, every field documented, CPU-friendly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from training.engine.config import CONFIGS, config_for, describe, trainer_arguments
from training.engine.jobs import EngineError


def test_overrides_replace_the_kind_defaults() -> None:
    config = config_for("dpo", {"beta": 0.5, "loss_type": ["sigmoid", "sft"], "learning_rate": 1})
    assert config.beta == 0.5
    assert config.loss_type == ["sigmoid", "sft"]
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config_for("dpo").beta == 0.1


def test_kinds_start_from_their_own_learning_rate() -> None:
    rates = {kind: config_for(kind).learning_rate for kind in ("reward_model", "sft", "dpo")}
    assert rates == {"reward_model": 1e-4, "sft": 2e-5, "dpo": 1e-6}


def test_an_unknown_name_is_refused_with_a_suggestion() -> None:
    with pytest.raises(EngineError, match=r"Unknown hyperparameter 'betta'.*Did you mean 'beta'"):
        config_for("dpo", {"betta": 0.2})


def test_a_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(EngineError, match=r"'max_steps' of a sft job must be int, got '10'"):
        config_for("sft", {"max_steps": "10"})
    with pytest.raises(EngineError, match="precision"):
        config_for("sft", {"precision": "fp8"})


def test_the_platform_defaults_are_accepted() -> None:
    """training/services/defaults.py sends these names for every training kind."""
    common = {
        "num_train_epochs": 1,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_length": 256,
        "eval_fraction": 0.1,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
    }
    config_for("reward_model", {**common, "learning_rate": 1e-4})
    config_for("dpo", {**common, "learning_rate": 5e-5, "beta": 0.1, "loss_type": "sigmoid"})
    config_for(
        "generate",
        {
            "num_return_sequences": 2,
            "temperature": 1.0,
            "top_p": 1.0,
            "max_new_tokens": 128,
            "seed": 0,
        },
    )


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_every_field_is_documented(kind: str) -> None:
    fields = describe(kind)
    assert fields
    for field in fields:
        assert len(field["help"]) > 15, field["name"]
        assert field["type"]


def test_training_arguments_suit_a_cpu() -> None:
    args = trainer_arguments(config_for("sft"), output_dir="/tmp/x", seed=3, has_eval=False)
    assert args["use_cpu"] is True
    assert args["bf16"] is False and args["fp16"] is False
    assert args["report_to"] == "none"
    assert args.get("activation_checkpointing", args.get("gradient_checkpointing")) is False
    assert args["eval_strategy"] == "no"


def test_importing_the_engine_does_not_load_torch() -> None:
    """Web processes import the engine's contract and configs; torch stays out of them."""
    code = (
        "import sys\n"
        "import training.engine.cli, training.engine.runner, training.engine.config\n"
        "import training.engine.data, training.engine.models, training.engine.reward\n"
        "import training.engine.sft, training.engine.dpo, training.engine.generate\n"
        "import training.engine.evaluate\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
