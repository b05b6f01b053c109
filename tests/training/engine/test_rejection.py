"""Rejection sampling: best-of-K by the reward model, as SFT rows and preference pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.engine import synthetic
from tests.training.engine.conftest import SFT_FAST, jsonl, run_engine, spec_for
from training.engine import data
from training.engine.evaluate import load_reward_model
from training.engine.jobs import ModelRef
from training.engine.reward import score

RS_FAST = {"num_return_sequences": 4, "max_new_tokens": 16, "batch_size": 8}


def test_best_of_k_keeps_the_top_completion_and_pairs_it_with_the_worst(
    tmp_path: Path, base, trained_rm
) -> None:
    rm, _ = trained_rm
    few = synthetic.write(synthetic.prompt_rows("heldout", n=6), tmp_path / "prompts.jsonl")
    outcome = run_engine(
        spec_for(
            "rejection_sampling",
            tmp_path,
            base,
            reward_model=rm,
            train_file=str(few),
            hyperparameters=RS_FAST,
        )
    )
    assert outcome.code == 0, outcome.of("error")
    outputs = outcome.done["outputs"]
    sft = jsonl(outputs["data_file"])
    pairs = jsonl(outputs["preference_file"])
    samples = jsonl(tmp_path / "best_of_k_samples.jsonl")
    prompts = jsonl(few)
    assert len(sft) == len(prompts) and len(samples) == 4 * len(prompts)
    data.check_rows(sft, "sft", source="best-of-K SFT rows")
    data.check_rows(pairs, "preference", source="best-of-K pairs")
    assert pairs and all(p["margin"] > 0 for p in pairs)
    first = sft[0]
    mine = [s["score"] for s in samples if s["prompt_id"] == first["prompt_id"]]
    assert first["score"] == pytest.approx(max(mine))
    # the recorded score is what the reward model gives the written row
    model, tokenizer = load_reward_model(rm)
    (rescored,) = score(model, tokenizer, [first["prompt"]], [first["completion"]])
    assert rescored == pytest.approx(first["score"], abs=1e-4)
    assert outcome.done["metrics"]["mean_best_score"] > outcome.done["metrics"]["mean_score"]


@pytest.mark.slow
def test_sft_on_best_of_k_data_yields_a_policy_the_reward_model_prefers(
    tmp_path: Path, base, trained_rm, data_dir
) -> None:
    rm, _ = trained_rm
    prompts = synthetic.write(synthetic.prompt_rows("train"), tmp_path / "prompts_train.jsonl")
    sampled = run_engine(
        spec_for(
            "rejection_sampling",
            tmp_path / "rs",
            base,
            reward_model=rm,
            train_file=str(prompts),
            hyperparameters={**RS_FAST, "num_return_sequences": 8, "max_new_tokens": 32},
        )
    )
    assert sampled.code == 0, sampled.of("error")
    tuned = run_engine(
        spec_for(
            "sft",
            tmp_path / "sft",
            base,
            train_file=sampled.done["outputs"]["data_file"],
            hyperparameters={
                **SFT_FAST,
                "max_steps": 30,
                "per_device_train_batch_size": 8,
                "eval_fraction": 0.0,
            },
        )
    )
    assert tuned.code == 0, tuned.of("error")
    evaluated = run_engine(
        spec_for(
            "evaluate_policy",
            tmp_path / "eval",
            ModelRef(path=tuned.done["outputs"]["model_dir"]),
            reference=base,
            reward_model=rm,
            eval_file=str(data_dir / "prompts_heldout.jsonl"),
            hyperparameters={"max_prompts": 50, "samples_per_prompt": 4, "max_new_tokens": 32},
        )
    )
    assert evaluated.code == 0, evaluated.of("error")
    metrics = evaluated.done["metrics"]
    print("best-of-K SFT policy vs parent:", {k: round(v, 3) for k, v in metrics.items()})
    assert metrics["win_rate"] > 0.5
