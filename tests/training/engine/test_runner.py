"""Each job kind through run_job on the tiny model: events written, parameters changed, loss
logged; bad configs fail fast with a message a user can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.training.engine.conftest import (
    DPO_FAST,
    FAST,
    RM_FAST,
    SFT_FAST,
    jsonl,
    run_engine,
    spec_for,
)
from training.engine.jobs import EXIT_FAILED, EngineError, EventWriter, JobSpec, ModelRef
from training.engine.runner import run_job

WEIGHT = "model.layers.0.self_attn.q_proj.weight"


def weight(model_dir: str | Path, name: str = WEIGHT) -> torch.Tensor:
    return load_file(str(Path(model_dir) / "model.safetensors"))[name]


def assert_trained(outcome, base: ModelRef) -> None:
    assert outcome.code == 0, outcome.of("error")
    assert outcome.names[0] == "start" and outcome.names[-1] == "done"
    assert outcome.of("start")[0]["total_steps"] == FAST["max_steps"]
    assert len(outcome.logged("loss")) == FAST["max_steps"]
    assert [e["step"] for e in outcome.of("log") if "loss" in e["metrics"]] == [1, 2, 3]
    model_dir = outcome.done["outputs"]["model_dir"]
    assert not torch.equal(weight(model_dir), weight(base.path))


def test_reward_model_trains_a_sequence_classifier(tmp_path: Path, base, data_dir) -> None:
    outcome = run_engine(
        spec_for(
            "reward_model",
            tmp_path,
            base,
            train_file=str(data_dir / "pref_small.jsonl"),
            hyperparameters=RM_FAST,
        )
    )
    assert_trained(outcome, base)
    saved = load_file(str(Path(outcome.done["outputs"]["model_dir"]) / "model.safetensors"))
    assert saved["score.weight"].shape == (1, 64)  # one reward per sequence
    metrics = outcome.done["metrics"]
    assert 0.0 <= metrics["heldout_accuracy"] <= 1.0 and metrics["train_tokens_per_second"] > 0
    held = jsonl(outcome.done["outputs"]["eval_file"])  # for a later evaluate_reward_model job
    assert 0 < len(held) < 24 and metrics["heldout_pairs"] == len(held)


def test_sft_trains_on_completions(tmp_path: Path, base, data_dir) -> None:
    outcome = run_engine(
        spec_for(
            "sft",
            tmp_path,
            base,
            train_file=str(data_dir / "sft_small.jsonl"),
            hyperparameters=SFT_FAST,
        )
    )
    assert_trained(outcome, base)
    losses = outcome.logged("loss")
    assert losses[-1] < losses[0]
    assert "heldout_loss" in outcome.done["metrics"]


def test_dpo_trains_against_its_reference(tmp_path: Path, base, data_dir) -> None:
    outcome = run_engine(
        spec_for(
            "dpo",
            tmp_path,
            base,
            reference=base,
            train_file=str(data_dir / "pref_small.jsonl"),
            hyperparameters=DPO_FAST,
        )
    )
    assert_trained(outcome, base)
    assert outcome.logged("rewards/margins")[-1] > 0  # chosen pulled above rejected


def test_standard_string_rows_train_too(tmp_path: Path, base, data_dir) -> None:
    outcome = run_engine(
        spec_for(
            "dpo",
            tmp_path,
            base,
            train_file=str(data_dir / "pref_std.jsonl"),
            hyperparameters={**DPO_FAST, "max_steps": 1},
        )
    )
    assert outcome.code == 0, outcome.of("error")


def test_generate_writes_k_completions_per_prompt(tmp_path: Path, base, data_dir) -> None:
    prompts = jsonl(data_dir / "prompts_heldout.jsonl")[:3]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    hyper = {"num_return_sequences": 2, "max_new_tokens": 12, "seed": 7}

    def generate(out: Path, **extra):
        spec = spec_for(
            "generate",
            out,
            base,
            train_file=str(tmp_path / "prompts.jsonl"),
            hyperparameters={**hyper, **extra},
        )
        outcome = run_engine(spec)
        assert outcome.code == 0, outcome.of("error")
        return outcome, jsonl(outcome.done["outputs"]["data_file"])

    outcome, rows = generate(tmp_path / "a")
    assert len(rows) == 6
    assert [(r["prompt_id"], r["sample"]) for r in rows] == [
        (p["prompt_id"], k) for p in prompts for k in (0, 1)
    ]
    assert all(r["finish_reason"] in ("stop", "length") and r["num_tokens"] <= 12 for r in rows)
    assert all(isinstance(r["completion"], str) and r["seed"] == 7 for r in rows)
    assert outcome.done["metrics"]["tokens_per_second"] > 0
    assert outcome.names[0] == "start" and "log" in outcome.names
    _, again = generate(tmp_path / "b")
    assert [r["completion"] for r in again] == [r["completion"] for r in rows]
    _, other = generate(tmp_path / "c", seed=8)
    assert [r["completion"] for r in other] != [r["completion"] for r in rows]


def test_run_job_raises_for_library_callers(tmp_path: Path, base) -> None:
    spec = spec_for("sft", tmp_path, base, train_file=str(tmp_path / "missing.jsonl"))
    with pytest.raises(EngineError, match="missing.jsonl does not exist"):
        run_job(spec, EventWriter(tmp_path, echo=False))


# -- bad configs: an error event, a non-zero exit, and no training started --------------------


def failed(spec: JobSpec) -> str:
    outcome = run_engine(spec)
    assert outcome.code == EXIT_FAILED
    assert "start" not in outcome.names and "done" not in outcome.names
    return outcome.error


def test_an_unknown_model_path_fails_fast(tmp_path: Path, data_dir) -> None:
    spec = spec_for(
        "dpo",
        tmp_path,
        ModelRef(path="/nonexistent/models/tiny"),
        train_file=str(data_dir / "pref_small.jsonl"),
    )
    assert failed(spec) == "The model path /nonexistent/models/tiny does not exist."


def test_an_empty_dataset_fails_fast(tmp_path: Path, base) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    spec = spec_for("reward_model", tmp_path, base, train_file=str(tmp_path / "empty.jsonl"))
    assert "The dataset is empty" in failed(spec)


def test_a_lora_rank_above_the_hidden_size_fails_fast(tmp_path: Path, base, data_dir) -> None:
    spec = spec_for(
        "sft",
        tmp_path,
        base,
        method="lora",
        train_file=str(data_dir / "sft_small.jsonl"),
        hyperparameters={"lora_r": 128},
    )
    assert failed(spec) == (
        f"LoRA rank lora_r=128 is larger than the hidden size 64 of the model {base.path}: "
        "choose lora_r <= 64."
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without GPU")
def test_qlora_without_a_gpu_fails_fast(tmp_path: Path, base, data_dir) -> None:
    spec = spec_for(
        "dpo", tmp_path, base, method="qlora", train_file=str(data_dir / "pref_small.jsonl")
    )
    assert failed(spec).startswith("QLoRA needs a CUDA GPU and bitsandbytes")


def test_an_unknown_hyperparameter_fails_fast(tmp_path: Path, base, data_dir) -> None:
    spec = spec_for(
        "dpo",
        tmp_path,
        base,
        train_file=str(data_dir / "pref_small.jsonl"),
        hyperparameters={"learning_rat": 1e-5},
    )
    assert "Did you mean 'learning_rate'" in failed(spec)


@pytest.mark.parametrize("kind", ["ppo", "grpo", "rloo", "rejection_sampling"])
def test_online_rl_kinds_need_a_reward_model(tmp_path: Path, base, data_dir, kind: str) -> None:
    spec = spec_for(kind, tmp_path, base, train_file=str(data_dir / "prompts_heldout.jsonl"))
    needs = (
        "a reward_model." if kind == "rejection_sampling" else "a reward_model or a reward_judge"
    )
    assert f"A {kind} job needs {needs}" in failed(spec)
