"""Read-only queries over model versions and rounds: head-to-head results, a round's versions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count

from annotate.models import Choice, ComparisonItem, RaterKind, Vote
from training.models import JobStatus, ModelKind, ModelVersion, Round, TrainingRun

HUMANS = "humans"


@dataclass
class HeadToHead:
    """One rater group's verdicts on pairwise comparisons of `version` against `opponent`."""

    rater: str  # "humans", or a judge's (or imported rater's) name
    kind: str
    wins: int = 0
    losses: int = 0
    ties: int = 0  # ties and "both bad"

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float | None:
        """Wins over decided votes, ties counting half (as Chatbot Arena reports it)."""
        return (self.wins + 0.5 * self.ties) / self.votes if self.votes else None


def head_to_head(
    *, version: ModelVersion, opponent: ModelVersion, project_id: int | None = None
) -> list[HeadToHead]:
    """Every vote on a two-response comparison of `version`'s answer against `opponent`'s, grouped
    by rater: all humans together, each judge (and imported rater) on its own. Comparisons of more
    than two responses are left out (a ranking says nothing about this pair alone)."""
    items = ComparisonItem.objects.filter(
        response__model_version__in=[version.pk, opponent.pk]
    ).values_list("comparison_id", "position", "response__model_version_id")
    if project_id is not None:
        items = items.filter(comparison__project_id=project_id)
    sides: dict[int, dict[int, int]] = defaultdict(dict)
    for comparison_id, position, model_id in items:
        sides[comparison_id][position] = model_id
    mine = {
        cid: next(p for p, m in pos.items() if m == version.pk)
        for cid, pos in sides.items()
        if sorted(pos.values()) == sorted([version.pk, opponent.pk])
    }
    if not mine:
        return []
    counts: dict[str, HeadToHead] = {}
    votes = (
        Vote.objects.filter(comparison_id__in=_two_item_ids(mine))
        .exclude(choice="")
        .values_list("comparison_id", "choice", "rater__kind", "rater__name")
    )
    for comparison_id, choice, kind, name in votes:
        key = HUMANS if kind == RaterKind.HUMAN else name
        row = counts.setdefault(key, HeadToHead(rater=key, kind=kind))
        if choice in (Choice.TIE, Choice.BOTH_BAD):
            row.ties += 1
        elif (choice == Choice.A) == (mine[comparison_id] == 0):
            row.wins += 1
        else:
            row.losses += 1
    return sorted(counts.values(), key=lambda r: (r.rater != HUMANS, r.rater))


def _two_item_ids(candidates: dict[int, int]) -> list[int]:
    return list(
        ComparisonItem.objects.filter(comparison_id__in=list(candidates))
        .values("comparison_id")
        .annotate(n=Count("id"))
        .filter(n=2)
        .values_list("comparison_id", flat=True)
    )


def judged_win_rate(*, version: ModelVersion, opponent: ModelVersion) -> float | None:
    """The win rate by judges and humans pooled: the figure rounds rank policies by."""
    rows = head_to_head(version=version, opponent=opponent)
    votes = sum(r.votes for r in rows)
    if not votes:
        return None
    return sum(r.wins + 0.5 * r.ties for r in rows) / votes


@dataclass
class RoundVersion:
    """A policy a round produced (or started from), with what says how good it is."""

    version: ModelVersion
    run: TrainingRun | None
    win_rate: float | None  # vs its parent, by the reward model that evaluated it
    kl: float | None
    judged: float | None  # vs the round's policy, by judges and humans (head to head)
    warnings: list[str]

    @property
    def score(self) -> float | None:
        """What "best" means: the judged win rate when there is one, else the evaluation's."""
        return self.judged if self.judged is not None else self.win_rate


def round_versions(*, round: Round) -> list[RoundVersion]:
    """The policies the round's succeeded runs produced, oldest first."""
    runs = (
        TrainingRun.objects.filter(round=round, status=JobStatus.SUCCEEDED)
        .select_related("produced_version")
        .order_by("pk")
    )
    out = []
    for run in runs:
        version = getattr(run, "produced_version", None)
        if version is None or version.kind != ModelKind.POLICY:
            continue
        metrics = version.metrics or {}
        out.append(
            RoundVersion(
                version=version,
                run=run,
                win_rate=_number(metrics.get("win_rate")),
                kl=_number(metrics.get("kl")),
                judged=judged_win_rate(version=version, opponent=round.policy),
                warnings=_warnings(metrics, run),
            )
        )
    return out


def round_best(*, round: Round, versions: list[RoundVersion] | None = None) -> ModelVersion:
    """The policy the next round should start from: the produced version with the best score
    above 0.5 (it beat the round's policy) and no reward-hacking warning; else the round's own.
    `versions`: round_versions(round), when the caller has them already."""
    best, best_score = round.policy, 0.5
    for candidate in round_versions(round=round) if versions is None else versions:
        score = candidate.score
        if score is None or _hacked(candidate.warnings):
            continue
        if score > best_score:
            best, best_score = candidate.version, score
    return best


def _warnings(metrics: dict, run: TrainingRun) -> list[str]:
    found = [*(metrics.get("warnings") or []), *(run.warnings or [])]
    if metrics.get("reward_hacking_warning") and not _hacked(found):
        found.append("Possible reward hacking (flagged by its evaluation).")
    return list(dict.fromkeys(found))


def _hacked(warnings: list[str]) -> bool:
    return any("reward hacking" in w.lower() for w in warnings)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
