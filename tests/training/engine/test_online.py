"""GRPO and RLOO through trl, rewarded by the reward model as RewardTrainer trained it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.engine import synthetic
from tests.training.engine.conftest import held_out_gain, run_engine, spec_for
from training.engine import reward
from training.engine.evaluate import load_reward_model
from training.engine.jobs import JobSpec
from training.engine.online import reward_function
from training.engine.rewarders import rewarder_for

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


def test_the_reward_function_scores_as_the_reward_model_trained(tmp_path: Path, trained_rm) -> None:
    rm, _ = trained_rm
    model, tokenizer = load_reward_model(rm)
    prompt = [{"role": "user", "content": "Can you help me with maps?"}]
    polite = [{"role": "assistant", "content": "Of course! I'd be happy to help."}]
    rude = [{"role": "assistant", "content": "Ugh, seriously? Figure it out yourself."}]
    spec = JobSpec(kind="grpo", out_dir=str(tmp_path), reward_model=rm)
    scorer = reward_function(rewarder_for(spec, batch_size=4, max_length=None))
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


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_online_rl_evaluates_held_out_prompts_before_during_and_after_training(
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
            hyperparameters={**ONLINE_FAST, "eval_fraction": 0.05, "eval_steps": 1},
        )
    )
    assert outcome.code == 0, outcome.of("error")
    assert outcome.names.index("start") < outcome.names.index("eval")
    evals = outcome.of("eval")
    assert [e["step"] for e in evals] == [0, 1, 2]
    for e in evals:
        assert set(e["metrics"]) == {"heldout_reward", "heldout_kl", "heldout_length"}
    assert evals[0]["metrics"]["heldout_kl"] == pytest.approx(0.0, abs=1e-4)  # the reference
    done = outcome.done
    assert done["metrics"]["heldout_reward"] == evals[-1]["metrics"]["heldout_reward"]
    assert Path(done["outputs"]["eval_file"]).is_file()  # the held-out prompts, for later jobs


@pytest.mark.slow
def test_grpo_raises_the_held_out_reward_with_bounded_kl(
    tmp_path: Path, base, trained_rm, prompts_file, data_dir
) -> None:
    rm, _ = trained_rm
    hyper = {
        **ONLINE_FAST,
        "max_steps": 30,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_new_tokens": 24,
        "learning_rate": 1e-3,
        "beta": 0.04,
    }
    before, after, _ = held_out_gain("grpo", tmp_path, base, rm, data_dir, prompts_file, hyper)
    # Measured (seeds 0, 1, 2 on 2 cores): reward -0.21 -> 1.24, -0.12 -> 1.21, -0.26 -> 1.17
    # with KL 13.7, 12.1 and 13.8 nats, in about 7 s of training.
    assert after["heldout_reward"] > before["heldout_reward"] + 0.5
    assert after["heldout_kl"] < 20.0


@pytest.mark.parametrize("kind", ["grpo", "ppo"])
def test_online_rl_can_be_rewarded_by_an_ai_judge_in_training_and_evaluation(
    kind: str, tmp_path: Path, base, prompts_file
) -> None:
    from tests.judges.fake_openai import FakeOpenAI, Reply
    from training.engine.jobs import CONVERSATION_SLOT, RESPONSE_SLOT, JudgeRef

    prompt = f"Rate it.\n{CONVERSATION_SLOT}\n{RESPONSE_SLOT}\nScore:"
    hyper = {**ONLINE_FAST, "eval_fraction": 0.05}
    if kind == "ppo":
        hyper = {k: v for k, v in hyper.items() if k != "num_generations"}
    with FakeOpenAI(lambda request: Reply(content="[[10]]")) as server:
        outcome = run_engine(
            spec_for(
                kind,
                tmp_path,
                base,
                reward_judge=JudgeRef(base_url=server.base_url, model="rater", prompt=prompt),
                train_file=str(prompts_file),
                hyperparameters=hyper,
            )
        )
        asked = len(server.requests)
    assert outcome.code == 0, outcome.of("error")
    assert outcome.logged("reward") == [1.0, 1.0]  # the judge's 10 of 10, scaled to [-1, 1]
    evals = outcome.of("eval")
    assert [e["metrics"]["heldout_reward"] for e in evals] == [1.0, 1.0]
    completions_per_step = 2 * (2 if kind == "grpo" else 1)  # 2 prompts, x 2 generations
    held_out = round(len(synthetic.prompt_rows("train")) * 0.05)
    assert asked == 2 * completions_per_step + 2 * held_out  # two steps, two evaluations


def test_evaluating_held_out_prompts_leaves_grpo_training_unchanged(
    tmp_path: Path, base, trained_rm, prompts_file, data_dir
) -> None:
    """The evaluation samples with its own seed and restores the random state it found."""
    rm, _ = trained_rm
    runs = [
        run_engine(
            spec_for(
                "grpo",
                tmp_path / name,
                base,
                reward_model=rm,
                train_file=str(prompts_file),
                eval_file=eval_file,
                hyperparameters={**ONLINE_FAST, "max_steps": 3, "eval_steps": 1},
            )
        )
        for name, eval_file in (
            ("plain", None),
            ("evaluated", str(data_dir / "prompts_heldout.jsonl")),
        )
    ]
    assert [len(r.of("eval")) for r in runs] == [0, 4]
    assert runs[0].logged("reward") == runs[1].logged("reward")
