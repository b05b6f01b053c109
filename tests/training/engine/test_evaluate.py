"""Evaluation jobs: a reward model on held-out pairs; a policy against its parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.engine.conftest import SFT_FAST, jsonl, run_engine, spec_for
from training.engine.config import config_for
from training.engine.evaluate import hacking_warning
from training.engine.jobs import ModelRef

POLICY_FAST = {"max_prompts": 6, "samples_per_prompt": 2, "max_new_tokens": 16}


def test_a_reward_model_is_scored_on_held_out_pairs(tmp_path: Path, trained_rm, data_dir):
    rm, training = trained_rm
    outcome = run_engine(
        spec_for(
            "evaluate_reward_model", tmp_path, rm, eval_file=str(data_dir / "pref_heldout.jsonl")
        )
    )
    assert outcome.code == 0, outcome.of("error")
    metrics = outcome.done["metrics"]
    assert metrics["accuracy"] > 0.9 and metrics["mean_margin"] > 0
    assert metrics["pairs"] == len(jsonl(data_dir / "pref_heldout.jsonl"))
    # the same rows, scored the same way as at the end of training
    assert metrics["accuracy"] == training.done["metrics"]["heldout_accuracy"]


def test_a_policy_equal_to_its_parent_ties_with_zero_kl(tmp_path: Path, base, trained_rm, data_dir):
    outcome = run_engine(
        spec_for(
            "evaluate_policy",
            tmp_path,
            base,
            reference=base,
            reward_model=trained_rm[0],
            eval_file=str(data_dir / "prompts_heldout.jsonl"),
            hyperparameters=POLICY_FAST,
        )
    )
    assert outcome.code == 0, outcome.of("error")
    metrics = outcome.done["metrics"]
    assert metrics["samples"] == 12
    assert metrics["win_rate"] == 0.5  # same weights, same seed: the same samples, all ties
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-4)
    assert metrics["length_policy"] == metrics["length_parent"] > 0
    assert outcome.of("warning") == [] and metrics["reward_hacking_warning"] == 0.0
    rows = jsonl(outcome.done["outputs"]["data_file"])
    assert len(rows) == 12 and rows[0]["policy"] == rows[0]["parent"]


def test_an_adapter_policy_is_compared_with_its_base(tmp_path: Path, base, trained_rm, data_dir):
    sft = run_engine(
        spec_for(
            "sft",
            tmp_path / "sft",
            base,
            method="lora",
            train_file=str(data_dir / "sft_small.jsonl"),
            hyperparameters={**SFT_FAST, "max_steps": 2, "learning_rate": 1e-2},
        )
    )
    policy = ModelRef(path=base.path, adapter_path=sft.done["outputs"]["adapter_dir"])
    outcome = run_engine(
        spec_for(
            "evaluate_policy",
            tmp_path / "eval",
            policy,
            reward_model=trained_rm[0],
            eval_file=str(data_dir / "prompts_heldout.jsonl"),
            hyperparameters=POLICY_FAST,
        )
    )
    assert outcome.code == 0, outcome.of("error")
    assert outcome.done["metrics"]["kl"] != 0.0


def test_a_policy_without_a_parent_is_refused(tmp_path: Path, base, trained_rm, data_dir):
    outcome = run_engine(
        spec_for(
            "evaluate_policy",
            tmp_path,
            base,
            reward_model=trained_rm[0],
            eval_file=str(data_dir / "prompts_heldout.jsonl"),
        )
    )
    assert outcome.code == 1
    assert "needs a reference (the parent policy)" in outcome.error


@pytest.mark.parametrize(
    ("win_rate", "kl", "warned"),
    [(0.8, 35.0, True), (0.8, 5.0, False), (0.45, 35.0, False), (0.5, 35.0, False)],
)
def test_reward_hacking_is_flagged_when_wins_come_with_a_large_kl(win_rate, kl, warned):
    message = hacking_warning({"win_rate": win_rate, "kl": kl}, config_for("evaluate_policy"))
    assert (message is not None) == warned
    if warned:
        assert message.startswith(
            "Possible reward hacking: the win rate against the parent is 0.80"
        )
