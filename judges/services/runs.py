"""Judge runs: a judge over a project (or a selection of its comparisons) as a background job.

A run works in batches: load the comparisons, build both-order questions, take what the cache
knows, ask the rest (concurrently, through the judge's backend), cache the answers, then cast one
ordinary vote per comparison whose every answer parsed, and record a JudgeFailure for the others.
Between batches it updates its counters and heartbeat and honours a cancel request. Resuming
skips comparisons this run already voted on (and, unless `rejudge`, those this judge version
voted on before), and cached answers make any repeat free.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotate.errors import ValidationError
from annotate.models import Comparison, ComparisonItem, Project, Vote
from annotate.services.votes import vote_submit
from judges.models import (
    FailureKind,
    Judge,
    JudgeFailure,
    JudgeKind,
    JudgeRun,
    ProjectJudging,
    RunStatus,
)
from judges.services import openai_client
from judges.services.backends import Item, open_backend
from judges.services.cache import cache_get_many, cache_key, cache_put_many
from judges.services.config import JudgeConfig, judge_config
from judges.services.judges import judge_check
from judges.services.prompts import TemplateError, render
from judges.services.verdicts import (
    Answer,
    Ask,
    Verdict,
    combine_pairwise,
    combine_ranking,
    combine_rewards,
    combine_scores,
)

logger = logging.getLogger(__name__)

VOTES_PER_TRANSACTION = 50
STALE_AFTER = timedelta(minutes=10)
"""A running run whose heartbeat is older than this is taken for dead (its worker was killed)."""


# -- creating, cancelling, resuming -----------------------------------------------------------


def judge_run_check(
    *, judge: Judge, project: Project, comparison_ids: Sequence[int] | None = None
) -> list[int] | None:
    """The judge can run and the selection (sorted, deduplicated) lies inside the project."""
    judge_check(judge=judge)
    if not comparison_ids:
        return None
    try:
        selection = sorted({int(pk) for pk in comparison_ids})
    except (TypeError, ValueError):
        raise ValidationError(
            "comparison_ids must be a list of ids", field="comparison_ids"
        ) from None
    found = set(
        Comparison.objects.filter(project=project, pk__in=selection).values_list("pk", flat=True)
    )
    missing = [pk for pk in selection if pk not in found]
    if missing:
        raise ValidationError(
            f"comparisons {missing[:20]} are not in project {project.slug!r}",
            field="comparison_ids",
        )
    return selection


def judge_run_create(
    *,
    judge: Judge,
    project: Project,
    comparison_ids: Sequence[int] | None = None,
    rejudge: bool = False,
    user=None,
    enqueue: bool = True,
) -> JudgeRun:
    """A queued run of `judge` over `project` (or the listed comparisons of it)."""
    selection = judge_run_check(judge=judge, project=project, comparison_ids=comparison_ids)
    run = JudgeRun.objects.create(
        judge=judge,
        project=project,
        comparison_ids=selection,
        rejudge=rejudge,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    if enqueue:
        transaction.on_commit(lambda: judge_run_enqueue(run_id=run.pk))
    return run


def judge_run_enqueue(*, run_id: int) -> str:
    from django_q.tasks import async_task

    task_id = async_task("judges.tasks.judge_run_task", run_id, group=f"judge-run-{run_id}")
    JudgeRun.objects.filter(pk=run_id).update(task_id=task_id or "")
    return task_id


def judge_run_cancel(*, run: JudgeRun) -> JudgeRun:
    """Stop a run: at once when queued (or its worker died), after the current batch otherwise."""
    now = timezone.now()
    if run.status == RunStatus.QUEUED or (
        run.status == RunStatus.RUNNING
        and (run.heartbeat_at or run.started_at or now) < now - STALE_AFTER
    ):
        JudgeRun.objects.filter(pk=run.pk, status=run.status).update(
            status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now
        )
    elif run.status == RunStatus.RUNNING:
        JudgeRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.refresh_from_db()
    return run


def judge_run_resume(*, run: JudgeRun, enqueue: bool = True) -> JudgeRun:
    """Queue a cancelled or failed run again; it picks up where it stopped."""
    if run.status not in (RunStatus.CANCELLED, RunStatus.FAILED):
        raise ValidationError(
            f"run {run.pk} is {run.status}: only cancelled or failed runs resume", field="status"
        )
    JudgeRun.objects.filter(pk=run.pk).update(
        status=RunStatus.QUEUED, cancel_requested=False, error="", finished_at=None
    )
    if enqueue:
        transaction.on_commit(lambda: judge_run_enqueue(run_id=run.pk))
    run.refresh_from_db()
    return run


# -- executing --------------------------------------------------------------------------------


def judge_run_execute(*, run_id: int) -> JudgeRun:
    """Do the work of a queued run (the django-q2 task calls this). Returns the finished run."""
    now = timezone.now()
    claimed = JudgeRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, heartbeat_at=now
    )
    run = JudgeRun.objects.select_related("judge__rater", "project").get(pk=run_id)
    if not claimed:
        return run  # cancelled before it started, or another worker has it
    if run.started_at is None:
        JudgeRun.objects.filter(pk=run_id).update(started_at=now)
    try:
        config = judge_config(run.judge)
        _execute(run, config)
    except (openai_client.JudgeEndpointError, TemplateError, ValidationError, ValueError) as exc:
        _finish(run, RunStatus.FAILED, error=str(exc))
    except Exception as exc:  # the run must not stay "running" forever: record and re-raise
        logger.exception("judge run %s failed", run_id)
        _finish(run, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    run.refresh_from_db()
    return run


def _finish(run: JudgeRun, status: str, *, error: str = "") -> None:
    # Only a run still marked running: one cancelled as dead meanwhile keeps that status.
    JudgeRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, error=error[:5000], finished_at=timezone.now(), heartbeat_at=timezone.now()
    )


def _execute(run: JudgeRun, config: JudgeConfig) -> None:
    scope = _scope_ids(run)
    pending, done_here, skipped = _pending(run, config, scope)
    JudgeRun.objects.filter(pk=run.pk).update(
        total=len(scope), processed=done_here + skipped, skipped=skipped, failed=0, unparseable=0
    )
    # Two batches at a time: while one batch's votes are written, the next one's calls are
    # already in flight.
    in_flight: deque[_Batch] = deque()
    with open_backend(config) as backend:
        for ids in _chunks(pending, _batch_size(config)):
            if JudgeRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
                while in_flight:
                    _finish_batch(run, config, in_flight.popleft(), backend)
                _finish(run, RunStatus.CANCELLED)
                return
            in_flight.append(_start_batch(config, ids, backend))
            if len(in_flight) > 1:
                _finish_batch(run, config, in_flight.popleft(), backend)
        while in_flight:
            _finish_batch(run, config, in_flight.popleft(), backend)
    _finish(run, RunStatus.SUCCEEDED)
    judging = ProjectJudging.objects.filter(project_id=run.project_id).first()
    if judging is not None and judging.judge_id == run.judge_id:
        from judges.services.routing import routing_apply

        routing_apply(project=run.project)


def _batch_size(config: JudgeConfig) -> int:
    """Comparisons per batch: enough to keep `concurrency` requests busy between DB writes."""
    if config.kind == JudgeKind.OPENAI:
        return max(8, config.concurrency * 4)
    return 16


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _scope_ids(run: JudgeRun) -> list[int]:
    comparisons = Comparison.objects.filter(project_id=run.project_id)
    if run.comparison_ids:
        comparisons = comparisons.filter(pk__in=run.comparison_ids)
    return list(comparisons.order_by("id").values_list("id", flat=True))


def _pending(run: JudgeRun, config: JudgeConfig, scope: list[int]) -> tuple[list[int], int, int]:
    """(comparisons still to judge, how many this run voted on, how many were already done)."""
    votes = Vote.objects.filter(rater_id=run.judge.rater_id, comparison__project_id=run.project_id)
    here = set(votes.filter(metadata__run_id=run.pk).values_list("comparison_id", flat=True))
    before: set[int] = set()
    if not run.rejudge:
        before = set(
            votes.filter(
                metadata__judge__version=config.version,
                metadata__judge__config_hash=config.config_hash,
            ).values_list("comparison_id", flat=True)
        )
    scope_set = set(scope)
    done_here = len(here & scope_set)
    skipped = len((before - here) & scope_set)
    pending = [pk for pk in scope if pk not in here and pk not in before]
    return pending, done_here, skipped


def load_items(comparison_ids: list[int]) -> list[Item]:
    comparisons = Comparison.objects.filter(pk__in=comparison_ids).select_related(
        "prompt", "project"
    )
    by_id = {c.pk: c for c in comparisons}
    responses: dict[int, list[tuple[int, str]]] = {pk: [] for pk in by_id}
    for comparison_id, response_id, text in (
        ComparisonItem.objects.filter(comparison_id__in=comparison_ids)
        .order_by("comparison_id", "position")
        .values_list("comparison_id", "response_id", "response__text")
    ):
        responses[comparison_id].append((response_id, text))
    return [
        Item(
            comparison=by_id[pk],
            conversation=list(by_id[pk].prompt.messages or []),
            response_ids=[rid for rid, _ in responses[pk]],
            texts=[text for _, text in responses[pk]],
        )
        for pk in comparison_ids
        if pk in by_id and len(responses[pk]) >= 2
    ]


def effective_mode(config: JudgeConfig, n: int) -> str:
    if config.kind == JudgeKind.REWARD_MODEL:
        return "reward"
    if config.mode == "score":
        return "score"
    return "pairwise" if n == 2 else "ranking"


def asks_for(config: JudgeConfig, item: Item) -> list[Ask]:
    """Every question a comparison needs: both orders (pairwise / ranking), each response
    (score), or one scoring pass (reward model)."""
    mode = effective_mode(config, item.n)
    positions = list(range(item.n))
    if mode == "reward":
        ask = Ask(item.comparison.pk, positions, mode, messages=item.conversation)
        ask.key = cache_key(config, ask, item.texts)
        return [ask]
    if mode == "score":
        orders = [[i] for i in positions]
    else:
        orders = [positions, positions[::-1]]
    asks = []
    for shown in orders:
        shown_texts = [item.texts[i] for i in shown]
        messages = render(
            config,
            conversation=item.conversation,
            shown=shown_texts,
            mode=mode,
            guidelines=item.comparison.project.guidelines,
        )
        ask = Ask(item.comparison.pk, shown, mode, messages=messages)
        ask.key = cache_key(config, ask, shown_texts)
        asks.append(ask)
    return asks


def verdict_for(config: JudgeConfig, item: Item, asks: list[Ask], answers: list[Answer]) -> Verdict:
    mode = asks[0].mode
    if mode == "reward":
        return combine_rewards(asks[0], answers[0], item.response_ids)
    if mode == "score":
        return combine_scores(asks, answers, item.response_ids)
    if mode == "pairwise":
        return combine_pairwise(asks, answers, item.response_ids, config.inconsistency)
    return combine_ranking(asks, answers, item.response_ids, config.inconsistency)


@dataclass
class _Batch:
    comparison_ids: list[int]
    items: dict[int, Item]
    asks: dict[int, list[Ask]]
    known: dict[str, Answer]
    missing: dict[str, Ask]
    future: concurrent.futures.Future


def _start_batch(config: JudgeConfig, comparison_ids: list[int], backend) -> _Batch:
    """Load the comparisons, build their questions, take the cache's answers, ask the rest."""
    items = {item.comparison.pk: item for item in load_items(comparison_ids)}
    asks = {pk: asks_for(config, item) for pk, item in items.items()}
    known = cache_get_many(a.key for batch in asks.values() for a in batch)
    missing: dict[str, Ask] = {}
    for batch in asks.values():
        for ask in batch:
            if ask.key not in known:
                missing.setdefault(ask.key, ask)
    future = backend.submit(list(missing.values()), items)
    return _Batch(comparison_ids, items, asks, known, missing, future)


def _finish_batch(run: JudgeRun, config: JudgeConfig, batch: _Batch, backend) -> None:
    """Wait for the batch's answers, cache them, cast votes or record failures, count."""
    fresh_by_key = dict(zip(batch.missing, batch.future.result(), strict=True))
    cache_put_many(judge_id=config.judge_id, answers=fresh_by_key)

    counts = {"voted": 0, "consistent": 0, "inconsistent": 0, "unparseable": 0, "failed": 0}
    pks = list(batch.asks)
    for start in range(0, len(pks), VOTES_PER_TRANSACTION):
        # One commit per few dozen votes, not per vote: far fewer syncs, short write locks.
        with transaction.atomic():
            for pk in pks[start : start + VOTES_PER_TRANSACTION]:
                _settle(run, config, batch, pk, fresh_by_key, counts)

    spent = list(fresh_by_key.values())
    cached = sum(1 for asks in batch.asks.values() for a in asks if a.key in batch.known)
    JudgeRun.objects.filter(pk=run.pk).update(
        processed=F("processed") + len(batch.comparison_ids),
        calls=F("calls") + sum(a.attempts for a in spent),
        cached_calls=F("cached_calls") + cached,
        http_requests=F("http_requests") + backend.take_http_requests(),
        prompt_tokens=F("prompt_tokens") + sum(a.prompt_tokens for a in spent),
        completion_tokens=F("completion_tokens") + sum(a.completion_tokens for a in spent),
        cost=F("cost") + Decimal(str(round(sum(a.cost for a in spent), 6))),
        heartbeat_at=timezone.now(),
        **{name: F(name) + value for name, value in counts.items()},
    )


def _settle(
    run: JudgeRun,
    config: JudgeConfig,
    batch: _Batch,
    pk: int,
    fresh_by_key: dict[str, Answer],
    counts: dict[str, int],
) -> None:
    """One comparison's outcome: a vote when every answer parsed, else recorded failures."""
    item, asks = batch.items[pk], batch.asks[pk]
    answers = [batch.known.get(a.key) or fresh_by_key[a.key] for a in asks]
    if not all(answer.ok for answer in answers):
        kind = _record_failures(run, item, asks, answers)
        counts["failed" if kind == FailureKind.ERROR else "unparseable"] += 1
        return
    verdict = verdict_for(config, item, asks, answers)
    _cast_vote(run, config, item, verdict)
    counts["voted"] += 1
    if verdict.consistent is not None:
        counts["consistent" if verdict.consistent else "inconsistent"] += 1


def _cast_vote(run: JudgeRun, config: JudgeConfig, item: Item, verdict: Verdict) -> Vote:
    prompt_tokens, completion_tokens = verdict.tokens
    latency_ms = sum(o["latency_ms"] for o in verdict.orders)
    metadata = {
        "judge": config.provenance,
        "run_id": run.pk,
        "orders": verdict.orders,
        "position_consistent": verdict.consistent,
        "inconsistency_policy": verdict.policy_applied,
        "confidence": None if verdict.confidence is None else round(verdict.confidence, 6),
        "tokens": {"prompt": prompt_tokens, "completion": completion_tokens},
        "cost": round(sum(o["cost"] for o in verdict.orders), 8),
        "latency_ms": round(latency_ms, 1),
        "cached": all(o["cached"] for o in verdict.orders),
    }
    pairwise = item.n == 2
    shown = verdict.orders[0]["shown"]
    return vote_submit(
        comparison=item.comparison,
        rater=run.judge.rater,
        choice=verdict.choice if pairwise else "",
        ranking=None if pairwise else verdict.ranking,
        rationale=verdict.rationale,
        display_order=shown if len(shown) == item.n else item.response_ids,
        preference_probability=verdict.preference_probability if pairwise else None,
        time_spent_ms=int(latency_ms),
        metadata=metadata,
    )


def _record_failures(run: JudgeRun, item: Item, asks: list[Ask], answers: list[Answer]) -> str:
    failures = [
        JudgeFailure(
            run=run,
            comparison=item.comparison,
            order=",".join(str(item.response_ids[i]) for i in ask.shown),
            kind=FailureKind.ERROR if answer.error_kind == "error" else FailureKind.UNPARSEABLE,
            message=answer.error or "no answer",
            raw_outputs=answer.raw_outputs,
        )
        for ask, answer in zip(asks, answers, strict=True)
        if not answer.ok
    ]
    JudgeFailure.objects.bulk_create(failures)
    kinds = {f.kind for f in failures}
    return FailureKind.ERROR if FailureKind.ERROR in kinds else FailureKind.UNPARSEABLE
