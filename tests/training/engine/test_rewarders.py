"""An AI judge as the reward of online RL (RLAIF): scores asked of a real HTTP server on 127.0.0.1
through the openai client, scaled to [-1, 1]; unreadable answers are neutral until they are most."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.judges.fake_openai import FakeOpenAI, Reply
from tests.training.engine.conftest import run_engine, spec_for
from training.engine.jobs import CONVERSATION_SLOT, RESPONSE_SLOT, EngineError, JobSpec, JudgeRef
from training.engine.rewarders import JudgeRewarder, parse_score

PROMPT = f"Rate this.\n[Conversation]\n{CONVERSATION_SLOT}\n[Response]\n{RESPONSE_SLOT}\nScore:"


def _judge(server: FakeOpenAI, **fields) -> JudgeRef:
    return JudgeRef(base_url=server.base_url, model="rater-1", prompt=PROMPT, **fields)


def _polite_ten(request) -> Reply:
    text = request.prompt
    return Reply(content="[[10]]" if "thank" in text.lower() else "Rating: 1/10")


def test_the_judges_scores_become_rewards_in_minus_one_to_one(monkeypatch) -> None:
    monkeypatch.setenv("PS_REWARD_JUDGE_API_KEY", "sk-from-env")
    with FakeOpenAI(_polite_ten, api_key="sk-from-env") as server:
        rewarder = JudgeRewarder(_judge(server, system="You are strict."))
        prompts = [[{"role": "user", "content": "Hello?"}], "Plain prompt"]
        completions = [[{"role": "assistant", "content": "Hi, thank you!"}], "Go away."]
        assert rewarder(prompts, completions) == [1.0, -1.0]
        first = server.requests[0].body["messages"]
    assert first[0] == {"role": "system", "content": "You are strict."}
    assert "User: Hello?" in first[1]["content"] and "Hi, thank you!" in first[1]["content"]
    assert CONVERSATION_SLOT not in first[1]["content"]


def test_a_wrong_key_stops_the_job_with_the_endpoints_answer(monkeypatch) -> None:
    monkeypatch.setenv("PS_REWARD_JUDGE_API_KEY", "sk-wrong")
    with FakeOpenAI(_polite_ten, api_key="sk-right") as server:
        rewarder = JudgeRewarder(_judge(server, max_retries=0))
        with pytest.raises(EngineError, match="reward judge .* failed: AuthenticationError"):
            rewarder(["Hello?"], ["Hi"])


def test_unreadable_answers_are_neutral_until_they_are_the_majority() -> None:
    answers = iter(["[[7]]", "no idea", "[[4]]", "[[12]]"])
    with FakeOpenAI(lambda request: Reply(content=next(answers))) as server:
        rewarder = JudgeRewarder(_judge(server, concurrency=1))
        scores = rewarder(["q"] * 4, ["a", "b", "c", "d"])
        assert scores == pytest.approx([(7 - 5.5) / 4.5, 0.0, (4 - 5.5) / 4.5, 0.0])
        assert (rewarder.asked, rewarder.unreadable) == (4, 2)
        server.responder = lambda request: Reply(content="I cannot rate that.")
        with pytest.raises(EngineError, match="no score in \\[1, 10\\] for 3 of 3"):
            rewarder(["q"] * 3, ["a", "b", "c"])


def test_scores_are_read_as_the_judges_app_writes_them() -> None:
    assert parse_score("Reasoning... [[8]]") == 8.0
    assert parse_score("Rating: 6/10") == 6.0
    assert parse_score(" 3 ") == 3.0
    assert parse_score("nothing here") is None


def test_a_reward_judge_survives_the_job_file(tmp_path: Path) -> None:
    spec = JobSpec(
        kind="grpo",
        out_dir=str(tmp_path),
        reward_judge=JudgeRef(base_url="http://127.0.0.1:1/v1", model="m", prompt=PROMPT),
    )
    again = JobSpec.from_json(spec.to_json())
    assert again.reward_judge == spec.reward_judge and "sk-" not in spec.to_json()


def test_online_rl_without_reward_model_or_judge_is_refused(tmp_path: Path, base) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "Hi?"}\n', encoding="utf-8")
    outcome = run_engine(spec_for("grpo", tmp_path / "out", base, train_file=str(prompts)))
    assert outcome.code == 1 and "reward_model or a reward_judge" in outcome.error
    judged = spec_for(
        "sft",
        tmp_path / "sft",
        base,
        train_file=str(prompts),
        reward_judge=JudgeRef(base_url="http://127.0.0.1:1/v1", model="m", prompt=PROMPT),
    )
    assert "only rewards online RL" in run_engine(judged).error
