"""The OpenAI-compatible judge against a real chat-completions server on 127.0.0.1.

The real `openai` client talks HTTP to tests/judges/fake_openai.py, which answers from a script:
verdicts with logprobs, 429 then success, 500s, slow answers, malformed verdicts.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from annotate.models import Vote
from judges.models import FailureKind, JudgeFailure, RunStatus
from judges.services.runs import judge_run_create, judge_run_execute
from tests.factories import ProjectFactory, make_comparison
from tests.judges.conftest import make_openai_judge
from tests.judges.fake_openai import Reply, always

pytestmark = pytest.mark.django_db


def _run(judge, project, **kwargs):
    run = judge_run_create(judge=judge, project=project, enqueue=False, **kwargs)
    return judge_run_execute(run_id=run.pk)


def prefer_text(word: str, **reply):
    """A judge that prefers whichever shown response contains `word` (position-independent)."""

    def respond(request):
        shown = request.shown
        label = "AB"[next(i for i, text in enumerate(shown) if word in text)]
        return Reply(content=label, **reply)

    return respond


def _project_with_pairs(n: int = 3):
    project = ProjectFactory()
    comparisons = [make_comparison(project=project) for _ in range(n)]
    return project, comparisons


def test_every_pair_is_asked_in_both_orders_and_a_consistent_verdict_is_a_vote(fake_openai):
    project, comparisons = _project_with_pairs(2)
    winners = {}
    for c in comparisons:
        second = c.ordered_responses()[1]
        second.text += " GOOD"
        second.save()
        winners[c.pk] = second.text
    fake_openai.responder = _with_probs(prefer_text("GOOD"), 0.8)
    judge = make_openai_judge(fake_openai.base_url)

    run = _run(judge, project)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert len(fake_openai.requests) == 4
    orders = {tuple(r.shown) for r in fake_openai.requests}
    for c in comparisons:
        first, second = (r.text for r in c.ordered_responses())
        assert (first, second) in orders and (second, first) in orders
    for vote in Vote.objects.filter(rater=judge.rater):
        assert vote.choice == "b"
        assert vote.metadata["position_consistent"] is True
        # P(position 0 preferred) from logprobs: 0.2 in both orders.
        assert vote.preference_probability == pytest.approx(0.2)
        assert [o["raw_output"] for o in vote.metadata["orders"]] == ["B", "A"]
        assert vote.metadata["judge"]["version"] == judge.version
    assert (run.voted, run.consistent, run.inconsistent) == (2, 2, 0)


def _with_probs(responder, p: float):
    def respond(request):
        reply = responder(request)
        other = "B" if reply.content == "A" else "A"
        reply.probs = {reply.content: p, other: 1 - p}
        return reply

    return respond


def test_a_judge_that_always_says_A_is_inconsistent_and_its_vote_is_a_tie(fake_openai):
    project, comparisons = _project_with_pairs(1)
    fake_openai.responder = always("A", probs={"A": 0.9, "B": 0.1})
    judge = make_openai_judge(fake_openai.base_url)

    run = _run(judge, project)

    vote = Vote.objects.get(rater=judge.rater)
    assert (vote.choice, vote.preference_probability) == ("tie", 0.5)
    assert vote.metadata["position_consistent"] is False
    assert vote.metadata["inconsistency_policy"] == "tie"
    assert (run.consistent, run.inconsistent) == (0, 1)


def test_soft_policy_keeps_the_mean_probability_of_the_two_orders(fake_openai):
    project, _ = _project_with_pairs(1)
    fake_openai.responder = always("A", probs={"A": 0.9, "B": 0.1})
    judge = make_openai_judge(fake_openai.base_url, inconsistency="soft")

    _run(judge, project)

    vote = Vote.objects.get(rater=judge.rater)
    # Order a/b: P(a) = 0.9; order b/a: "A" is b, so P(a) = 0.1. Mean 0.5: no preference.
    assert vote.preference_probability == pytest.approx(0.5)
    assert vote.metadata["inconsistency_policy"] == "soft"


def test_without_logprobs_the_probability_comes_from_the_verdict(fake_openai):
    project, comparisons = _project_with_pairs(1)
    first = comparisons[0].ordered_responses()[0]
    first.text += " GOOD"
    first.save()
    fake_openai.responder = prefer_text("GOOD")
    judge = make_openai_judge(fake_openai.base_url, use_logprobs=False)

    _run(judge, project)

    assert not any(r.wants_logprobs for r in fake_openai.requests)
    vote = Vote.objects.get(rater=judge.rater)
    assert (vote.choice, vote.preference_probability) == ("a", 1.0)


def test_chain_of_thought_is_kept_as_the_rationale(fake_openai):
    project, comparisons = _project_with_pairs(1)
    fake_openai.responder = lambda r: Reply(
        content="A is accurate; B invents a method.\n\nVerdict: [[A]]"
        if "GOOD" in r.shown[0]
        else "B is accurate; A invents a method.\n\nVerdict: [[B]]"
    )
    first = comparisons[0].ordered_responses()[0]
    first.text += " GOOD"
    first.save()
    judge = make_openai_judge(fake_openai.base_url, chain_of_thought=True)

    _run(judge, project)

    vote = Vote.objects.get(rater=judge.rater)
    assert vote.choice == "a"
    assert "A is accurate; B invents a method." in vote.rationale
    assert "[[" not in vote.rationale
    assert "[[A]]" in fake_openai.requests[0].first_prompt  # the answer format was asked for


def test_malformed_verdict_is_re_asked_then_counted(fake_openai):
    project, _ = _project_with_pairs(1)

    def respond(request):
        if not request.repair:
            return Reply(content="Hmm, both have merits and I would rather not say.")
        return Reply(content="[[C]]")

    fake_openai.responder = respond
    judge = make_openai_judge(fake_openai.base_url)

    run = _run(judge, project)

    vote = Vote.objects.get(rater=judge.rater)
    assert vote.choice == "tie"
    assert [o["attempts"] for o in vote.metadata["orders"]] == [2, 2]
    assert vote.metadata["orders"][0]["raw_output"] == "[[C]]"
    assert run.calls == 4 and run.unparseable == 0


def test_unparseable_outputs_are_recorded_retried_a_bounded_number_of_times_and_never_voted(
    fake_openai,
):
    project, (comparison,) = _project_with_pairs(1)
    fake_openai.responder = always("I refuse to pick.")
    judge = make_openai_judge(fake_openai.base_url, max_parse_retries=1)

    run = _run(judge, project)

    assert not Vote.objects.filter(rater=judge.rater).exists()
    assert len(fake_openai.requests) == 4  # 2 orders x (1 ask + 1 retry)
    failures = JudgeFailure.objects.filter(run=run)
    assert failures.count() == 2
    failure = failures.first()
    assert failure.kind == FailureKind.UNPARSEABLE
    assert failure.comparison == comparison
    assert failure.raw_outputs == ["I refuse to pick.", "I refuse to pick."]
    assert "no verdict" in failure.message
    assert (run.status, run.unparseable, run.voted, run.processed) == (RunStatus.SUCCEEDED, 1, 0, 1)


def test_rate_limits_are_retried_with_backoff_and_then_succeed(fake_openai):
    project, _ = _project_with_pairs(1)
    seen: dict[str, int] = {}

    def respond(request):
        key = request.first_prompt
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 1:
            return Reply(status=429, headers={"retry-after-ms": "20"})
        return Reply(content="C")

    fake_openai.responder = respond
    judge = make_openai_judge(fake_openai.base_url)

    run = _run(judge, project)

    assert Vote.objects.get(rater=judge.rater).choice == "tie"
    assert (run.calls, run.http_requests) == (2, 4)


def test_server_errors_that_persist_are_recorded_as_failures_not_votes(fake_openai):
    project, _ = _project_with_pairs(1)
    fake_openai.responder = always(status=500, headers={"retry-after-ms": "10"})
    judge = make_openai_judge(fake_openai.base_url, max_retries=2)

    run = _run(judge, project)

    assert not Vote.objects.filter(rater=judge.rater).exists()
    assert run.failed == 1 and run.voted == 0
    assert run.http_requests == 6  # 2 orders x (1 + 2 retries)
    failure = JudgeFailure.objects.filter(run=run).first()
    assert failure.kind == FailureKind.ERROR
    assert "HTTP 500" in failure.message and fake_openai.base_url in failure.message


def test_a_body_that_is_not_a_completion_is_a_failed_call_not_a_crash(fake_openai):
    project, _ = _project_with_pairs(1)
    fake_openai.responder = always(raw_body=b"<html>502 Bad Gateway</html>")
    judge = make_openai_judge(fake_openai.base_url)

    run = _run(judge, project)

    assert (run.status, run.failed, run.voted) == (RunStatus.SUCCEEDED, 1, 0)
    failure = JudgeFailure.objects.filter(run=run).first()
    assert failure.kind == FailureKind.ERROR and "not JSON" in failure.message


def test_a_slow_answer_times_out_and_is_retried(fake_openai):
    project, _ = _project_with_pairs(1)
    calls = {"n": 0}

    def respond(request):
        calls["n"] += 1
        return Reply(content="C", delay=1.0 if calls["n"] <= 2 else 0.0)

    fake_openai.responder = respond
    judge = make_openai_judge(fake_openai.base_url, timeout_seconds=0.3, max_retries=2)

    run = _run(judge, project)

    assert Vote.objects.get(rater=judge.rater).choice == "tie"
    assert run.http_requests >= 4  # both first tries timed out


def test_slow_answers_overlap_up_to_the_concurrency_limit(fake_openai):
    project, _ = _project_with_pairs(8)  # 16 calls of 0.2 s each
    fake_openai.responder = always("C", delay=0.2)
    judge = make_openai_judge(fake_openai.base_url, concurrency=8)

    started = time.perf_counter()
    run = _run(judge, project)
    elapsed = time.perf_counter() - started

    assert run.voted == 8
    # Sequential would be 3.2 s; 8 at a time is 2 waves of 0.2 s, plus overhead.
    assert elapsed < 1.6, elapsed


def test_a_rerun_is_answered_from_the_cache_with_zero_calls(fake_openai):
    project, _ = _project_with_pairs(3)
    fake_openai.responder = always("C")
    judge = make_openai_judge(fake_openai.base_url)
    first = _run(judge, project)
    assert first.calls == 6
    fake_openai.reset()

    second = _run(judge, project, rejudge=True)

    assert fake_openai.requests == []
    assert (second.calls, second.cached_calls, second.voted) == (0, 6, 3)
    assert second.cost == 0
    assert all(v.metadata["cached"] for v in Vote.objects.filter(rater=judge.rater))


def test_a_new_judge_version_is_not_served_from_the_old_cache(fake_openai):
    project, _ = _project_with_pairs(1)
    fake_openai.responder = always("C")
    judge = make_openai_judge(fake_openai.base_url)
    _run(judge, project)
    judge.version = "2"
    judge.save()
    fake_openai.reset()

    run = _run(judge, project)

    assert len(fake_openai.requests) == 2 and run.voted == 1


def test_tokens_and_cost_are_accounted_per_vote_and_per_run(fake_openai):
    project, _ = _project_with_pairs(2)
    fake_openai.responder = always("C", prompt_tokens=1000, completion_tokens=10)
    judge = make_openai_judge(
        fake_openai.base_url,
        price_prompt_per_mtok=Decimal("2.50"),
        price_completion_per_mtok=Decimal("10"),
    )

    run = _run(judge, project)

    assert (run.prompt_tokens, run.completion_tokens) == (4000, 40)
    # 4000 * 2.5 / 1e6 + 40 * 10 / 1e6
    assert run.cost == Decimal("0.010400")
    vote = Vote.objects.filter(rater=judge.rater).first()
    assert vote.metadata["tokens"] == {"prompt": 2000, "completion": 20}
    assert vote.metadata["cost"] == pytest.approx(0.0052)
    assert vote.metadata["latency_ms"] > 0


def test_the_api_key_is_sent_as_a_bearer_token(fake_openai):
    fake_openai.api_key = "sk-right"
    project, _ = _project_with_pairs(1)
    judge = make_openai_judge(fake_openai.base_url, api_key="sk-right")
    assert _run(judge, project).voted == 1


def test_a_refused_key_fails_the_run_at_once_with_a_clear_error(fake_openai):
    fake_openai.api_key = "sk-right"
    project, _ = _project_with_pairs(5)
    judge = make_openai_judge(fake_openai.base_url, api_key="sk-wrong")

    run = _run(judge, project)

    assert run.status == RunStatus.FAILED
    assert "HTTP 401" in run.error and fake_openai.base_url in run.error
    assert "sk-wrong" not in run.error
    assert not Vote.objects.filter(rater=judge.rater).exists()


def test_ranking_comparisons_are_asked_forward_and_backward(fake_openai):
    project = ProjectFactory()
    comparison = make_comparison(project=project, n=3)
    best = comparison.ordered_responses()[2]
    best.text += " GOOD"
    best.save()

    def respond(request):
        shown = request.shown
        top = "ABC"[next(i for i, t in enumerate(shown) if "GOOD" in t)]
        rest = " = ".join(x for x in "ABC" if x != top)
        return Reply(content=f"[[{top} > {rest}]]")

    fake_openai.responder = respond
    judge = make_openai_judge(fake_openai.base_url, mode="ranking")

    _run(judge, project)

    vote = Vote.objects.get(rater=judge.rater)
    ids = [r.pk for r in comparison.ordered_responses()]
    assert vote.ranking == [[ids[2]], sorted(ids[:2])]
    assert vote.metadata["position_consistent"] is True


def test_score_mode_grades_each_response_alone(fake_openai):
    project, (comparison,) = _project_with_pairs(1)
    second = comparison.ordered_responses()[1]
    second.text += " GOOD"
    second.save()
    fake_openai.responder = lambda r: Reply(content="[[9]]" if "GOOD" in r.shown[0] else "[[4]]")
    judge = make_openai_judge(fake_openai.base_url, mode="score")

    _run(judge, project)

    assert len(fake_openai.requests) == 2
    vote = Vote.objects.get(rater=judge.rater)
    assert vote.choice == "b" and vote.preference_probability < 0.01
    assert vote.metadata["position_consistent"] is None
