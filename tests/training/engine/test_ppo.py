"""The engine's PPO: runs on the tiny model against a reward model trained on the synthetic
polite-vs-rude preference, logs its metrics, changes the policy, resumes, and (slow) raises the
held-out reward while KL stays bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.engine import synthetic
from tests.training.engine.conftest import held_out_gain, run_engine, spec_for
from training.engine import models
from training.engine.jobs import ModelRef, request_cancel

PPO_FAST = {
    "max_steps": 2,
    "per_device_train_batch_size": 4,
    "max_new_tokens": 8,
    "num_ppo_epochs": 2,
    "num_mini_batches": 2,
    "learning_rate": 1e-3,
    "eval_fraction": 0.0,
}
METRICS = ("reward", "kl", "entropy", "clip_frac", "value_loss", "approx_kl", "policy_loss")


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ppo-prompts")
    return synthetic.write(synthetic.prompt_rows("train"), root / "prompts_train.jsonl")


def _ppo(out: Path, base: ModelRef, rm: ModelRef, prompts: Path, **hyper):
    return run_engine(
        spec_for(
            "ppo",
            out,
            base,
            reward_model=rm,
            train_file=str(prompts),
            hyperparameters={**PPO_FAST, **hyper},
        )
    )


def _weights(ref: ModelRef):
    model = models.load_model(ref, "causal_lm")
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("minibatches", [1, 2])
def test_ppo_logs_every_metric_and_changes_the_policy(
    minibatches: int, tmp_path: Path, base, trained_rm, prompts_file
) -> None:
    """With one minibatch, the first update reuses the rollouts' forward pass; with two, each
    update has its own."""
    rm, _ = trained_rm
    outcome = _ppo(tmp_path, base, rm, prompts_file, num_mini_batches=minibatches)
    assert outcome.code == 0, outcome.of("error")
    logs = outcome.of("log")
    assert [e["step"] for e in logs] == [1, 2]
    for name in METRICS:
        assert all(isinstance(e["metrics"][name], float) for e in logs), name
    assert logs[0]["metrics"]["kl"] == pytest.approx(0.0, abs=1e-4)  # policy == reference
    model_dir = Path(outcome.done["outputs"]["model_dir"])
    assert (model_dir / "value_head.pt").is_file()
    before, after = _weights(base), _weights(ModelRef(path=str(model_dir)))
    assert any(not before[k].equal(after[k]) for k in before)


def test_ppo_with_lora_saves_an_adapter_and_leaves_the_base_alone(
    tmp_path: Path, base, trained_rm, prompts_file
) -> None:
    rm, _ = trained_rm
    outcome = run_engine(
        spec_for(
            "ppo",
            tmp_path,
            base,
            method="lora",
            reward_model=rm,
            train_file=str(prompts_file),
            hyperparameters={**PPO_FAST, "max_steps": 1, "learning_rate": 1e-2},
        )
    )
    assert outcome.code == 0, outcome.of("error")
    adapter = Path(outcome.done["outputs"]["adapter_dir"])
    assert (adapter / "adapter_config.json").is_file()
    assert outcome.of("log")[0]["metrics"]["kl"] == pytest.approx(0.0, abs=1e-4)
    changed = models.load_model(
        ModelRef(path=str(base.path), adapter_path=str(adapter)), "causal_lm"
    )
    merged = changed.merge_and_unload().state_dict()
    before = _weights(base)
    assert any(not before[k].equal(merged[k]) for k in before)


def test_a_cancelled_ppo_job_resumes_from_its_checkpoint(
    tmp_path: Path, base, trained_rm, prompts_file
) -> None:
    rm, _ = trained_rm
    request_cancel(tmp_path)
    first = _ppo(tmp_path, base, rm, prompts_file, max_steps=3)
    assert first.code == 3
    assert first.of("cancelled")[0]["step"] == 1
    (tmp_path / "cancel").unlink()
    second = _ppo(tmp_path, base, rm, prompts_file, max_steps=3)
    assert second.code == 0, second.of("error")
    assert second.of("start")[0]["step"] == 1
    assert [e["step"] for e in second.of("log")] == [2, 3]


def test_a_ppo_job_without_a_reward_model_is_refused(tmp_path: Path, base, prompts_file) -> None:
    outcome = run_engine(spec_for("ppo", tmp_path, base, train_file=str(prompts_file)))
    assert outcome.code == 1
    assert "reward_model" in outcome.error


@pytest.mark.slow
def test_ppo_raises_the_held_out_reward_with_bounded_kl(
    tmp_path: Path, base, trained_rm, prompts_file, data_dir
) -> None:
    rm, _ = trained_rm
    hyper = {
        **PPO_FAST,
        "max_steps": 30,
        "per_device_train_batch_size": 8,
        "max_new_tokens": 24,
        "num_ppo_epochs": 4,
        "learning_rate": 3e-4,
        "kl_coef": 0.05,
    }
    before, after, _ = held_out_gain("ppo", tmp_path, base, rm, data_dir, prompts_file, hyper)
    assert after["heldout_reward"] > before["heldout_reward"] + 0.5
    assert after["heldout_kl"] < 20.0
