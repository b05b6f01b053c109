"""Metrics move the right way on the learnable polite-vs-rude preference; DPO's reference and
loss options behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.engine.conftest import DPO_FAST, Outcome, run_engine, spec_for
from training.engine import dpo, models
from training.engine.config import config_for
from training.engine.jobs import EventWriter, ModelRef


def test_the_reward_model_ranks_polite_above_rude_on_unseen_topics(trained_rm) -> None:
    _, outcome = trained_rm
    metrics = outcome.done["metrics"]
    assert metrics["heldout_accuracy"] > 0.9
    assert metrics["heldout_mean_margin"] > 0
    losses = outcome.logged("loss")
    assert sum(losses[-4:]) < sum(losses[:4])


def test_dpo_raises_chosen_over_rejected_on_held_out_prompts(tmp_path: Path, base, data_dir):
    outcome = run_engine(
        spec_for(
            "dpo",
            tmp_path,
            base,
            reference=base,
            train_file=str(data_dir / "pref_train.jsonl"),
            eval_file=str(data_dir / "pref_heldout.jsonl"),
            hyperparameters={**DPO_FAST, "max_steps": 8, "per_device_train_batch_size": 8},
        )
    )
    assert outcome.code == 0, outcome.of("error")
    metrics = outcome.done["metrics"]
    # beta * (chosen log-ratio - rejected log-ratio) against the frozen parent, on prompts the
    # policy never trained on: the preference for the polite answer went up
    assert metrics["heldout_rewards/margins"] > 0
    assert metrics["heldout_rewards/accuracies"] > 0.5


@pytest.mark.slow
def test_the_dpo_policy_beats_its_parent_with_bounded_kl(
    tmp_path: Path, base, data_dir, trained_rm
) -> None:
    rm, _ = trained_rm
    trained = run_engine(
        spec_for(
            "dpo",
            tmp_path / "dpo",
            base,
            reference=base,
            train_file=str(data_dir / "pref_train.jsonl"),
            hyperparameters={**DPO_FAST, "max_steps": 20, "per_device_train_batch_size": 6},
        )
    )
    assert trained.code == 0, trained.of("error")
    policy = ModelRef(path=trained.done["outputs"]["model_dir"])
    evaluated = run_engine(
        spec_for(
            "evaluate_policy",
            tmp_path / "eval",
            policy,
            reference=base,
            reward_model=rm,
            eval_file=str(data_dir / "prompts_heldout.jsonl"),
            hyperparameters={"max_prompts": 50, "samples_per_prompt": 4, "max_new_tokens": 32},
        )
    )
    assert evaluated.code == 0, evaluated.of("error")
    metrics = evaluated.done["metrics"]
    print("DPO policy vs parent:", {k: round(v, 3) for k, v in metrics.items()})
    assert metrics["win_rate"] > 0.5
    assert metrics["reward_policy"] > metrics["reward_parent"]
    assert 0 < metrics["kl"] < config_for("evaluate_policy").kl_warning_threshold
    assert evaluated.of("warning") == []


def _perturbed(base: ModelRef):
    """The tiny policy, changed in memory after loading: its directory no longer describes it."""
    import torch

    model = models.load_model(base, "causal_lm")
    with torch.no_grad():
        model.lm_head.weight.mul_(0.5)
    return model


def _first_logged(tmp_path: Path, base: ModelRef, data_dir: Path, **hyper) -> dict:
    spec = spec_for(
        "dpo",
        tmp_path,
        base,
        train_file=str(data_dir / "pref_small.jsonl"),
        hyperparameters={**DPO_FAST, "max_steps": 1, "learning_rate": 0.0, **hyper},
    )
    config = config_for("dpo", spec.hyperparameters)
    dpo.run(
        spec,
        config,
        EventWriter(tmp_path, echo=False),
        model=_perturbed(base),
        tokenizer=models.load_tokenizer(base),
    )
    return Outcome(0, tmp_path).of("log")[0]["metrics"]


def test_an_in_memory_policy_is_its_own_reference(tmp_path: Path, base, data_dir) -> None:
    """Before any update the policy equals its reference, so every implicit reward is zero; a
    reference reloaded from the policy's directory (trl's default) would differ."""
    metrics = _first_logged(tmp_path, base, data_dir)
    assert metrics["rewards/chosen"] == pytest.approx(0.0, abs=1e-4)
    assert metrics["rewards/rejected"] == pytest.approx(0.0, abs=1e-4)


def test_precomputed_reference_log_probs_match_the_policy(tmp_path: Path, base, data_dir):
    metrics = _first_logged(tmp_path, base, data_dir, precompute_ref_log_probs=True)
    assert metrics["rewards/margins"] == pytest.approx(0.0, abs=1e-4)


def test_the_sft_term_adds_the_chosen_nll_to_the_loss(tmp_path: Path, base, data_dir) -> None:
    plain = _first_logged(tmp_path / "plain", base, data_dir)
    with_sft = _first_logged(
        tmp_path / "rpo", base, data_dir, loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.5]
    )
    assert plain["loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: policy == reference
    assert with_sft["loss"] > plain["loss"] + 0.1


def test_a_reference_with_another_vocabulary_is_refused(tmp_path: Path, base, data_dir) -> None:
    from training.engine.tiny import TinyModelConfig, build_tiny_model

    other = build_tiny_model(TinyModelConfig(vocab_size=300, train_steps=0), tmp_path / "other")
    outcome = run_engine(
        spec_for(
            "dpo",
            tmp_path / "run",
            base,
            reference=ModelRef(path=str(other)),
            train_file=str(data_dir / "pref_small.jsonl"),
            hyperparameters={**DPO_FAST, "max_steps": 1},
        )
    )
    assert outcome.code == 1
    assert "token embeddings" in outcome.error and "must share a tokenizer" in outcome.error
