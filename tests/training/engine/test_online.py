"""GRPO and RLOO through trl, rewarded by the reward model as RewardTrainer trained it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.engine import synthetic
from tests.training.engine.conftest import run_engine, spec_for
from training.engine import reward
from training.engine.evaluate import load_reward_model
from training.engine.online import reward_function

ONLINE_FAST = {
    "max_steps": 2,
    "per_device_train_batch_size": 2,
    "num_generations": 2,
    "max_new_tokens": 8,
    "learning_rate": 1e-3,
    "eval_fraction": 0.0,
}


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("online-prompts")
    return synthetic.write(synthetic.prompt_rows("train"), root / "prompts_train.jsonl")


def test_the_reward_function_scores_as_the_reward_model_trained(trained_rm) -> None:
    rm, _ = trained_rm
    model, tokenizer = load_reward_model(rm)
    prompt = [{"role": "user", "content": "Can you help me with maps?"}]
    polite = [{"role": "assistant", "content": "Of course! I'd be happy to help."}]
    rude = [{"role": "assistant", "content": "Ugh, seriously? Figure it out yourself."}]
    scorer = reward_function(model, tokenizer, batch_size=4, max_length=None)
    scores = scorer(prompts=[prompt, prompt], completions=[polite, rude], completion_ids=None)
    assert scores == pytest.approx(reward.score(model, tokenizer, [prompt] * 2, [polite, rude]))
    assert scores[0] > scores[1]


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_online_rl_runs_and_logs_the_reward(
    kind: str, tmp_path: Path, base, trained_rm, prompts_file
) -> None:
    rm, _ = trained_rm
    outcome = run_engine(
        spec_for(
            kind,
            tmp_path,
            base,
            reward_model=rm,
            train_file=str(prompts_file),
            hyperparameters=ONLINE_FAST,
        )
    )
    assert outcome.code == 0, outcome.of("error")
    rewards = outcome.logged("reward")
    assert len(rewards) == 2 and all(isinstance(r, float) for r in rewards)
    assert Path(outcome.done["outputs"]["model_dir"], "config.json").is_file()
