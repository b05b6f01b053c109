"""Streaming reads: one query per chunk of prompts, consumed row by row.

A chunk is every comparison whose prompt id lies in (lo, hi], where hi is the prompt of the
chunk_size-th comparison after lo, so a prompt never straddles two chunks. One query per chunk
returns a row per matching vote, joined to its comparison's two responses (texts included), its
edit and its prompt, ordered by (prompt, comparison): rows are grouped per comparison as they
arrive, aggregated, and gathered per prompt, so pairs are deduplicated per prompt and KTO / SFT
labels are decided per prompt. Comparisons of three or more responses get their items from one
more query per chunk. Rows are plain tuples (the ORM writes the SQL; per-row converters are
skipped): memory stays flat however many comparisons there are.

AI-judge options: which rater kinds count, which judges the admission gate lets in (a
JudgeScope, export/gate.py), and the judge-metadata filters (confidence, position
consistency) are WHERE clauses, so dropped votes never leave the database; only when judge votes
are weighted or soft-labelled does each row also carry its rater kind and preference probability.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter

from django.db import connections
from django.db.models import Count, FilteredRelation, Q, QuerySet

from annotate.models import Adjudication, Comparison, ComparisonItem, Rater, RaterKind, Vote
from annotate.services.export.aggregate import PromptTally, VoteFacts, aggregate_comparison
from annotate.services.export.gate import JudgeScope
from annotate.services.export.options import ExportOptions

DEFAULT_CHUNK_SIZE = 10_000

COLUMNS = (
    "comparison__prompt_id",
    "comparison_id",
    "choice",
    "strength",
    "ranking",
    "edited_response_id",
    "edited_response__text",
    "item0__response_id",
    "item0__response__text",
    "item1__response_id",
    "item1__response__text",
    "comparison__prompt__messages",
)
# Read only when judge votes are weighted or soft-labelled, after COLUMNS.
JUDGE_COLUMNS = ("rater__kind", "preference_probability")
(
    PROMPT,
    COMPARISON,
    CHOICE,
    STRENGTH,
    RANKING,
    EDITED,
    EDITED_TEXT,
    RESPONSE0,
    TEXT0,
    RESPONSE1,
    TEXT1,
    MESSAGES,
) = range(len(COLUMNS))
RATER_KIND, PROBABILITY = range(len(COLUMNS), len(COLUMNS) + len(JUDGE_COLUMNS))
_comparison_key = itemgetter(PROMPT, COMPARISON)

PromptRecord = tuple[list[dict], PromptTally, dict[int, str]]


def final_verdicts_for(*, project_id: int | None, lo: int, hi: int | None) -> dict[int, str]:
    """{comparison id: adjudicated verdict} overriding the raters' majority, for pairwise
    comparisons whose prompt id lies in (lo, hi]."""
    adjudications = Adjudication.objects.filter(comparison__prompt_id__gt=lo).exclude(choice="")
    if hi is not None:
        adjudications = adjudications.filter(comparison__prompt_id__lte=hi)
    if project_id is not None:
        adjudications = adjudications.filter(comparison__project_id=project_id)
    return dict(adjudications.values_list("comparison_id", "choice"))


def iter_prompt_tallies(
    *,
    project_id: int | None,
    options: ExportOptions,
    counts: Counter,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    judges: JudgeScope | None = None,
) -> Iterator[PromptRecord]:
    """(prompt messages, the prompt's deduplicated pairs, {response id: text}) per prompt.

    `judges`: whose judge votes count (None: every judge's)."""
    judges = judges or JudgeScope()
    counts["comparisons"] += _comparisons(project_id).count()
    if options.counts_judges and Rater.objects.filter(kind=RaterKind.JUDGE).exists():
        _count_judge_votes(project_id, options, judges, counts)
    for lo, hi in _prompt_ranges(project_id, chunk_size):
        finals = (
            final_verdicts_for(project_id=project_id, lo=lo, hi=hi)
            if options.prefer_adjudication
            else {}
        )
        n_way = _n_way_items(project_id, lo, hi)
        rows = _raw_rows(_chunk_query(project_id, lo, hi, options, judges))
        yield from tallies_from_rows(rows, options, counts, finals, n_way)


def tallies_from_rows(
    rows: Iterable[tuple],
    options: ExportOptions,
    counts: Counter,
    finals: dict[int, str],
    n_way: dict[int, list[tuple[int, str]]],
) -> Iterator[PromptRecord]:
    """Vote rows ordered by (prompt, comparison) -> one record per prompt."""
    rules = options.rules
    judging = _JudgeTerms(options) if options.weighs_judges else None
    open_pid = None
    tally = PromptTally()
    raw_messages = None
    texts: dict[int, str] = {}
    compared = voted = used = 0
    for (pid, cid), group in groupby(rows, _comparison_key):
        group = list(group)
        if pid != open_pid:
            if tally.pairs or tally.bad:
                yield _json(raw_messages), tally, texts
            open_pid, tally, texts, raw_messages = pid, PromptTally(), {}, group[0][MESSAGES]
        item_ids, votes = _comparison(group, texts, n_way.get(cid), judging)
        compared += 1
        voted += len(votes)
        outcome = aggregate_comparison(item_ids, votes, rules, counts, finals.get(cid))
        if outcome.pairs or outcome.bad:
            used += 1
            tally.add(outcome, counts)
    if tally.pairs or tally.bad:
        yield _json(raw_messages), tally, texts
    counts["comparisons_with_votes"] += compared
    counts["votes_used"] += voted
    counts["comparisons_used"] += used


class _JudgeTerms:
    """How a judge vote's row becomes VoteFacts when judge votes are weighted or soft."""

    __slots__ = ("weight", "soft")

    def __init__(self, options: ExportOptions) -> None:
        self.weight = options.judge_weight
        self.soft = options.judge_soft_labels

    def apply(self, facts: VoteFacts, row: tuple, pairwise: bool) -> VoteFacts:
        if row[RATER_KIND] != RaterKind.JUDGE:
            return facts
        probability = row[PROBABILITY] if self.soft and pairwise else None
        return facts._replace(weight=self.weight, share_a=probability)


def _comparison(
    group: list[tuple],
    texts: dict[int, str],
    items: list[tuple[int, str]] | None,
    judging: _JudgeTerms | None = None,
) -> tuple[list[int], list[VoteFacts]]:
    """One comparison's vote rows -> (response ids in position order, its votes)."""
    first = group[0]
    if items is None:  # two responses: they came with the vote rows
        item_ids = [first[RESPONSE0], first[RESPONSE1]]
        if item_ids[1] is None:  # fewer than two responses: nothing to compare
            return [], []
        texts[item_ids[0]] = first[TEXT0]
        texts[item_ids[1]] = first[TEXT1]
    else:
        item_ids = [rid for rid, _ in items]
        texts.update(items)
    votes = []
    for row in group:
        edited = row[EDITED]
        if edited is not None:
            texts[edited] = row[EDITED_TEXT]
        ranking = row[RANKING]
        facts = VoteFacts(row[CHOICE], row[STRENGTH], _json(ranking) if ranking else None, edited)
        if judging is not None:
            facts = judging.apply(facts, row, items is None)
        votes.append(facts)
    return item_ids, votes


def _chunk_query(
    project_id: int | None,
    lo: int,
    hi: int | None,
    options: ExportOptions,
    judges: JudgeScope | None = None,
) -> QuerySet:
    """One row per matching vote, with its comparison's first two responses and its prompt,
    ordered by (prompt, comparison). The order of one comparison's votes does not matter: the
    aggregation is order-independent."""
    qs = _votes(project_id, options, judges).filter(_in_range("comparison__prompt_id", lo, hi))
    if options.judge_min_confidence > 0 and options.counts_judges:
        qs = qs.filter(~Q(rater__kind=RaterKind.JUDGE) | _confident(options))
    if options.judge_consistent_only and options.counts_judges:
        qs = qs.exclude(_inconsistent_judge())
    columns = COLUMNS + JUDGE_COLUMNS if options.weighs_judges else COLUMNS
    return (
        qs.annotate(
            item0=FilteredRelation("comparison__items", condition=Q(comparison__items__position=0)),
            item1=FilteredRelation("comparison__items", condition=Q(comparison__items__position=1)),
        )
        .order_by("comparison__prompt_id", "comparison_id")
        .values_list(*columns)
    )


def _votes(
    project_id: int | None, options: ExportOptions, judges: JudgeScope | None = None
) -> QuerySet:
    """The votes of the export's scope: project, rater kinds, dates, admitted judges."""
    qs = Vote.objects.all()
    if judges is not None and judges.raters is not None and options.counts_judges:
        qs = qs.filter(~Q(rater__kind=RaterKind.JUDGE) | _admitted(judges))
    if project_id is not None:
        qs = qs.filter(comparison__project_id=project_id)
    if not options.all_rater_kinds:
        qs = qs.filter(rater__kind__in=options.vote_rater_kinds)
    if options.since:
        qs = qs.filter(created_at__gte=options.since)
    if options.until:
        qs = qs.filter(created_at__lte=options.until)
    return qs


def _confident(options: ExportOptions) -> Q:
    """metadata.confidence is a number in [judge_min_confidence, 1]. The upper bound also keeps
    out non-numbers, which both backends sort above every number; a missing or null confidence
    compares as unknown, so the vote is dropped."""
    return Q(metadata__confidence__gte=options.judge_min_confidence, metadata__confidence__lte=1)


def _inconsistent_judge() -> Q:
    """A judge vote whose metadata.position_consistent is false. has_key turns a missing key
    into a plain false: without it the comparison is unknown, and NOT unknown drops the vote."""
    return Q(
        rater__kind=RaterKind.JUDGE,
        metadata__has_key="position_consistent",
        metadata__position_consistent=False,
    )


def _admitted(judges: JudgeScope) -> Q:
    """Votes of the judges the scope lets in, project by project (Q(pk__in=[]) when none)."""
    q = Q(pk__in=[])
    for project_id, rater_ids in sorted(judges.raters.items()):
        if rater_ids:
            q |= Q(comparison__project_id=project_id, rater_id__in=sorted(rater_ids))
    return q


def _count_judge_votes(
    project_id: int | None, options: ExportOptions, judges: JudgeScope, counts: Counter
) -> None:
    """In one query: the judge votes of the scope, how many the admission gate leaves out
    (dropped_judge_votes_not_admitted), how many count (judge_votes_admitted, before the metadata
    filters), and how many each metadata filter drops among those (a vote that fails both
    counts under both)."""
    judged = _votes(project_id, options).filter(rater__kind=RaterKind.JUDGE)
    admitted = Q(pk__isnull=False) if judges.raters is None else _admitted(judges)
    tallies = judged.aggregate(
        judge_votes=Count("pk"),
        admitted=Count("pk", filter=admitted),
        confident=Count("pk", filter=admitted & _confident(options)),
        inconsistent=Count("pk", filter=admitted & _inconsistent_judge()),
    )
    counts["judge_votes_admitted"] += tallies["admitted"]
    counts["dropped_judge_votes_not_admitted"] += tallies["judge_votes"] - tallies["admitted"]
    tallies["judge_votes"] = tallies["admitted"]
    if options.judge_min_confidence > 0:
        low = tallies["judge_votes"] - tallies["confident"]
        counts["dropped_judge_votes_low_confidence"] += low
    if options.judge_consistent_only:
        counts["dropped_judge_votes_inconsistent"] += tallies["inconsistent"]


def _n_way_items(
    project_id: int | None, lo: int, hi: int | None
) -> dict[int, list[tuple[int, str]]]:
    """{comparison id: [(response id, text)] in position order} for comparisons of 3+ responses
    (usually none: pairwise comparisons get their two responses from the vote rows)."""
    qs = ComparisonItem.objects.filter(
        _in_range("comparison__prompt_id", lo, hi), comparison__items__position=2
    )
    if project_id is not None:
        qs = qs.filter(comparison__project_id=project_id)
    rows = qs.order_by("comparison_id", "position").values_list(
        "comparison_id", "response_id", "response__text"
    )
    items: dict[int, list[tuple[int, str]]] = {}
    for cid, rid, text in _raw_rows(rows):
        items.setdefault(cid, []).append((rid, text))
    return items


def _comparisons(project_id: int | None) -> QuerySet:
    qs = Comparison.objects.all()
    return qs if project_id is None else qs.filter(project_id=project_id)


def _prompt_ranges(project_id: int | None, chunk_size: int) -> Iterator[tuple[int, int | None]]:
    """(lo, hi] prompt id ranges holding about chunk_size comparisons each; hi None = the rest."""
    lo = 0
    ordered = _comparisons(project_id).order_by("prompt_id").values_list("prompt_id", flat=True)
    while True:
        rest = ordered.filter(prompt_id__gt=lo)
        last = list(rest[chunk_size - 1 : chunk_size])
        if not last:
            if rest.exists():
                yield lo, None
            return
        yield lo, last[0]
        lo = last[0]


def _in_range(prefix: str, lo: int, hi: int | None) -> Q:
    q = Q(**{f"{prefix}__gt": lo})
    return q if hi is None else q & Q(**{f"{prefix}__lte": hi})


def _raw_rows(qs: QuerySet) -> Iterator[tuple]:
    """The queryset's rows as the driver returns them: the ORM builds the SQL, but per-row
    converters are skipped (they cost more than the rest of the export). JSON columns arrive as
    text on SQLite and may arrive decoded elsewhere: see `_json`."""
    sql, params = qs.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(5000):
            yield from rows


_decode = json.JSONDecoder().raw_decode


def _json(value):
    """Decoded JSON. raw_decode skips json.loads' wrappers: stored JSON has no leading blanks."""
    if isinstance(value, str):
        try:
            return _decode(value)[0]
        except ValueError:
            return json.loads(value)  # leading whitespace, or a real error worth its message
    return json.loads(value) if isinstance(value, bytes) else value
