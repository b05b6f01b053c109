"""Reads: how well judges agree with people, and the runs and routes to show.

Agreement is measured on pairwise comparisons (two responses) that have human votes. Labels are
a / b / tie (a "both bad" vote counts as a tie: no preference). The human label of a comparison
is the most frequent label among its human votes when no other label is as frequent; comparisons
whose humans split evenly have no label and are left out. Imported votes are not human votes.

- accuracy: the judge's label equals the human majority (3 classes);
- accuracy_no_ties: the same, on comparisons where neither the judge nor the majority says tie;
- kappa: Cohen's kappa between the judge's labels and the human majority (3 classes);
- position_consistency: share of the judge's pairwise votes whose two orders agreed;
- length_bias: share of the judge's decisive votes, on pairs of unequal length, that prefer the
  longer response (humans' rate beside it: a judge far above it likes length for itself);
- the ceiling: each human vote against the majority of the *other* humans on the comparison
  (accuracy and kappa, the same measures a judge gets), and raw pairwise human agreement.
Per criterion (where votes carry 1-5 ratings): the humans' preferred response on that criterion
(higher mean rating) against the judge's (its own ratings if it gives any, else its choice).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Length

from annotate.models import Adjudication, ComparisonItem, Project, RaterKind, Vote
from judges.models import ComparisonRoute, Judge, JudgeRun, ProjectJudging

LABELS = ("a", "b", "tie")
_LABEL_OF = {"a": "a", "b": "b", "tie": "tie", "both_bad": "tie"}


def cohen_kappa(first: list[str], second: list[str]) -> float | None:
    """Cohen's kappa of two label sequences; None when undefined (no data, or chance is 1)."""
    n = len(first)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(first, second, strict=True)) / n
    left, right = Counter(first), Counter(second)
    expected = sum(left[k] * right[k] for k in set(left) | set(right)) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else None
    return (observed - expected) / (1.0 - expected)


def majority(labels: list[str]) -> str | None:
    if not labels:
        return None
    counts = Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return counts[0][0]


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


@dataclass
class Score:
    """Agreement of one label source with the human majority."""

    n: int = 0
    accuracy: float | None = None
    n_no_ties: int = 0
    accuracy_no_ties: float | None = None
    kappa: float | None = None

    @classmethod
    def of(cls, pairs: list[tuple[str, str]]) -> Score:
        decisive = [(x, y) for x, y in pairs if x != "tie" and y != "tie"]
        return cls(
            n=len(pairs),
            accuracy=_ratio(sum(x == y for x, y in pairs), len(pairs)),
            n_no_ties=len(decisive),
            accuracy_no_ties=_ratio(sum(x == y for x, y in decisive), len(decisive)),
            kappa=cohen_kappa([x for x, _ in pairs], [y for _, y in pairs]),
        )


@dataclass
class JudgeAgreement:
    judge_id: int
    name: str
    votes: int
    overall: Score
    position_consistency: float | None
    consistency_n: int
    length_bias: float | None
    length_n: int
    mean_confidence: float | None
    criteria: dict[str, Score] = field(default_factory=dict)


@dataclass
class HumanCeiling:
    comparisons: int
    """Comparisons with two or more human votes."""
    leave_one_out: Score
    pairwise_agreement: float | None
    pairs: int
    length_bias: float | None
    length_n: int
    criteria: dict[str, Score] = field(default_factory=dict)


@dataclass
class AgreementReport:
    project_id: int
    project: str
    comparisons: int
    pairwise_comparisons: int
    human_labeled: int
    judges: list[JudgeAgreement]
    humans: HumanCeiling
    criteria: list[str]


@dataclass
class _Vote:
    rater_id: int
    label: str
    ratings: dict
    consistent: Any
    confidence: Any


def _pairs_of(project: Project) -> tuple[dict[int, tuple[int, int]], dict[int, int], int]:
    """Pairwise comparisons -> (response id at position 0, at 1); text lengths; all count."""
    positions: dict[int, dict[int, int]] = defaultdict(dict)
    lengths: dict[int, int] = {}
    for comparison_id, position, response_id, length in (
        ComparisonItem.objects.filter(comparison__project=project)
        .annotate(length=Length("response__text"))
        .values_list("comparison_id", "position", "response_id", "length")
    ):
        positions[comparison_id][position] = response_id
        lengths[response_id] = length
    pairs = {cid: (p[0], p[1]) for cid, p in positions.items() if len(p) == 2 and 0 in p and 1 in p}
    return pairs, lengths, len(positions)


def _votes_of(project: Project, pairs: dict[int, tuple[int, int]]):
    human: dict[int, list[_Vote]] = defaultdict(list)
    judged: dict[int, dict[int, _Vote]] = defaultdict(dict)
    rows = (
        Vote.objects.filter(
            comparison__project=project, rater__kind__in=[RaterKind.HUMAN, RaterKind.JUDGE]
        )
        .exclude(choice="")
        .values_list(
            "comparison_id",
            "rater_id",
            "rater__kind",
            "choice",
            "ratings",
            "metadata__position_consistent",
            "metadata__confidence",
        )
    )
    for comparison_id, rater_id, kind, choice, ratings, consistent, confidence in rows:
        if comparison_id not in pairs:
            continue
        vote = _Vote(rater_id, _LABEL_OF[choice], ratings or {}, consistent, confidence)
        if kind == RaterKind.HUMAN:
            human[comparison_id].append(vote)
        else:
            judged[rater_id][comparison_id] = vote
    return human, judged


def _criterion_label(ratings_list: list[dict], pair: tuple[int, int], criterion: str) -> str | None:
    """Which response the ratings prefer on `criterion` (mean 1-5 rating), or None if unrated."""
    means = []
    for response_id in pair:
        scores = [
            r[str(response_id)][criterion]
            for r in ratings_list
            if criterion in (r.get(str(response_id)) or {})
        ]
        if not scores:
            return None
        means.append(sum(scores) / len(scores))
    return "a" if means[0] > means[1] else "b" if means[1] > means[0] else "tie"


def _length_pick(label: str, pair: tuple[int, int], lengths: dict[int, int]) -> bool | None:
    """True when `label` picks the longer response; None for ties and equal lengths."""
    la, lb = lengths.get(pair[0], 0), lengths.get(pair[1], 0)
    if label == "tie" or la == lb:
        return None
    return (label == "a") == (la > lb)


def _truthy(value: Any) -> bool | None:
    """A metadata flag as True, False or None (not recorded, or JSON null: "not measured").

    Read through the JSON key transform, so values arrive decoded (True, 1, None). Text forms
    are accepted too: KT() once gave the text 'null' for a JSON null on SQLite, which read as
    False and routed every verdict of an order-free judge to people as "inconsistent"."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: not a confidence


def agreement_report(*, project: Project, judge: Judge | None = None) -> AgreementReport:
    pairs, lengths, total = _pairs_of(project)
    human, judged = _votes_of(project, pairs)
    criteria = [str(c) for c in project.criteria or []]
    labels = {cid: majority([v.label for v in votes]) for cid, votes in human.items()}
    labels = {cid: label for cid, label in labels.items() if label is not None}

    judges = Judge.objects.filter(rater_id__in=list(judged)).select_related("rater")
    if judge is not None:
        judges = judges.filter(pk=judge.pk)
    return AgreementReport(
        project_id=project.pk,
        project=project.name,
        comparisons=total,
        pairwise_comparisons=len(pairs),
        human_labeled=len(labels),
        judges=[
            _judge_agreement(j, judged.get(j.rater_id, {}), human, labels, pairs, lengths, criteria)
            for j in judges
        ],
        humans=_human_ceiling(human, pairs, lengths, criteria),
        criteria=criteria,
    )


def _judge_agreement(judge, votes, human, labels, pairs, lengths, criteria) -> JudgeAgreement:
    overall = Score.of([(v.label, labels[cid]) for cid, v in votes.items() if cid in labels])
    consistency = [_truthy(v.consistent) for v in votes.values()]
    consistency = [c for c in consistency if c is not None]
    longer = [_length_pick(v.label, pairs[cid], lengths) for cid, v in votes.items()]
    longer = [x for x in longer if x is not None]
    confidences = [c for c in (_number(v.confidence) for v in votes.values()) if c is not None]
    per_criterion = {}
    for criterion in criteria:
        pairs_c = []
        for cid, vote in votes.items():
            wanted = _criterion_label(
                [v.ratings for v in human.get(cid, [])], pairs[cid], criterion
            )
            if wanted is None:
                continue
            own = _criterion_label([vote.ratings], pairs[cid], criterion) or vote.label
            pairs_c.append((own, wanted))
        if pairs_c:
            per_criterion[criterion] = Score.of(pairs_c)
    return JudgeAgreement(
        judge_id=judge.pk,
        name=judge.rater.name,
        votes=len(votes),
        overall=overall,
        position_consistency=_ratio(sum(consistency), len(consistency)),
        consistency_n=len(consistency),
        length_bias=_ratio(sum(longer), len(longer)),
        length_n=len(longer),
        mean_confidence=_ratio(sum(confidences), len(confidences)) if confidences else None,
        criteria=per_criterion,
    )


def _human_ceiling(human, pairs, lengths, criteria) -> HumanCeiling:
    loo, agree, n_pairs, multi = [], 0, 0, 0
    per_criterion: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for cid, votes in human.items():
        if len(votes) < 2:
            continue
        multi += 1
        for i, vote in enumerate(votes):
            others = votes[:i] + votes[i + 1 :]
            other = majority([v.label for v in others])
            if other is not None:
                loo.append((vote.label, other))
            for criterion in criteria:
                mine = _criterion_label([vote.ratings], pairs[cid], criterion)
                theirs = _criterion_label([v.ratings for v in others], pairs[cid], criterion)
                if mine is not None and theirs is not None:
                    per_criterion[criterion].append((mine, theirs))
        for x, y in combinations(votes, 2):
            n_pairs += 1
            agree += x.label == y.label
    longer = [
        _length_pick(label, pairs[cid], lengths)
        for cid, label in ((cid, majority([v.label for v in vs])) for cid, vs in human.items())
        if label is not None
    ]
    longer = [x for x in longer if x is not None]
    return HumanCeiling(
        comparisons=multi,
        leave_one_out=Score.of(loo),
        pairwise_agreement=_ratio(agree, n_pairs),
        pairs=n_pairs,
        length_bias=_ratio(sum(longer), len(longer)),
        length_n=len(longer),
        criteria={c: Score.of(p) for c, p in per_criterion.items()},
    )


def human_labels(*, project: Project) -> dict[int, str]:
    """Comparison id -> human majority label (a / b / tie), where the humans have one."""
    return human_verdicts(project=project).labels


@dataclass
class HumanVerdicts:
    labels: dict[int, str]
    """Comparison id -> the human label: a reviewer's verdict, else the majority."""
    splits: list[int]
    """Comparisons whose human votes split evenly and that no reviewer settled."""


def human_verdicts(*, project: Project) -> HumanVerdicts:
    """The human label of each pairwise comparison, a reviewer's verdict (Adjudication) taking
    precedence over the majority; and the comparisons that still have none because their humans
    split evenly (they need a tie-break: one more rater, or a reviewer)."""
    pairs, _, _ = _pairs_of(project)
    human, _ = _votes_of(project, pairs)
    majorities = {cid: majority([v.label for v in votes]) for cid, votes in human.items()}
    reviewed = {
        cid: _LABEL_OF[choice]
        for cid, choice in Adjudication.objects.filter(
            comparison__project=project, comparison_id__in=list(pairs)
        ).values_list("comparison_id", "choice")
        if choice in _LABEL_OF
    }
    labels = {cid: label for cid, label in majorities.items() if label is not None}
    labels.update(reviewed)
    splits = sorted(cid for cid, label in majorities.items() if label is None and cid not in labels)
    return HumanVerdicts(labels=labels, splits=splits)


def judge_labels(*, project: Project, judge: Judge) -> dict[int, dict[str, Any]]:
    """Comparison id -> {"label", "consistent", "confidence"} for the judge's votes."""
    rows = Vote.objects.filter(comparison__project=project, rater_id=judge.rater_id).values_list(
        "comparison_id",
        "choice",
        "ranking",
        "metadata__position_consistent",
        "metadata__confidence",
    )
    return {
        cid: {
            "label": _LABEL_OF.get(choice) if choice else None,
            "consistent": _truthy(consistent),
            "confidence": _number(confidence),
        }
        for cid, choice, ranking, consistent, confidence in rows
    }


def judge_run_list(*, project: Project | None = None) -> QuerySet[JudgeRun]:
    runs = JudgeRun.objects.select_related("judge__rater", "project")
    return runs.filter(project=project) if project is not None else runs


def project_judging_for(*, project: Project) -> ProjectJudging | None:
    return ProjectJudging.objects.filter(project=project).select_related("judge__rater").first()


def route_counts(*, project: Project) -> dict[str, dict[str, int]]:
    """{decision: {reason: count}} for the project's routed comparisons."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for decision, reason in ComparisonRoute.objects.filter(project=project).values_list(
        "decision", "reason"
    ):
        out[decision][reason] = out[decision].get(reason, 0) + 1
    return dict(out)
