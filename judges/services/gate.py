"""The judge admission gate: a judge's votes feed exports, training and RLAIF routing only once
its measured agreement with people earns it.

Per project (thresholds on ProjectJudging; its defaults when the project has none), a judge is
admitted when its accuracy against the human majority (judges.selectors.agreement_report,
3 classes a / b / tie) reaches `judge_min_agreement` on at least `judge_min_comparisons`
comparisons with a human majority, and the same holds on every criterion people rated (a
criterion with some ratings but fewer than the minimum blocks admission: too little evidence
either way). Position consistency and length bias are recorded beside the numbers, for the
reader to weigh; they do not decide admission. Each export asks the gate afresh (through
annotate.services.export.gate, installed by JudgesConfig.ready), so a judge that drifts out of
agreement leaves the next export, and every snapshot made with judge votes records the gate's
state and numbers in its filters ("judge_gate").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from annotate.models import Project, Rater, RaterKind, Vote
from annotate.services.export.gate import JudgeScope
from judges.models import Judge, ProjectJudging
from judges.selectors import JudgeAgreement, Score, agreement_report

_DEFAULTS = {
    name: ProjectJudging._meta.get_field(name).default
    for name in ("judge_min_agreement", "judge_min_comparisons")
}


@dataclass(frozen=True)
class Thresholds:
    min_agreement: float
    min_comparisons: int

    @classmethod
    def of(cls, project: Project) -> Thresholds:
        row = (
            ProjectJudging.objects.filter(project=project)
            .values("judge_min_agreement", "judge_min_comparisons")
            .first()
        ) or _DEFAULTS
        return cls(row["judge_min_agreement"], row["judge_min_comparisons"])


@dataclass
class Admission:
    """One judge's standing on one project."""

    judge_id: int
    rater_id: int
    judge: str
    version: str
    admitted: bool
    reason: str
    votes: int = 0
    n: int = 0
    accuracy: float | None = None
    kappa: float | None = None
    position_consistency: float | None = None
    consistency_n: int = 0
    length_bias: float | None = None
    length_n: int = 0
    criteria: dict[str, dict] = field(default_factory=dict)
    included: bool = False
    """Whether an export counts its votes (admitted, or included by hand)."""


def _passes(score: Score, thresholds: Thresholds) -> str | None:
    """None when `score` passes, else why not. A minimum of 0 comparisons asks for no
    evidence: a judge with none passes (an explicit choice to trust it unmeasured)."""
    if thresholds.min_comparisons == 0 and score.n == 0:
        return None
    if score.n < thresholds.min_comparisons:
        return (
            f"{score.n} comparisons with a human majority, fewer than {thresholds.min_comparisons}"
        )
    if score.accuracy is None or score.accuracy < thresholds.min_agreement:
        return f"accuracy {score.accuracy or 0:.1%} below {thresholds.min_agreement:.0%}"
    return None


def _admission(judge: Judge, row: JudgeAgreement | None, thresholds: Thresholds) -> Admission:
    if row is None:
        trusted = thresholds.min_comparisons == 0
        return Admission(
            judge.pk,
            judge.rater_id,
            judge.rater.name,
            judge.version,
            trusted,
            "passes: no comparisons required" if trusted else "not measured",
        )
    reasons = []
    overall = _passes(row.overall, thresholds)
    if overall:
        reasons.append(overall)
    criteria = {}
    for name, score in row.criteria.items():
        if not score.n:
            continue  # nobody rated this criterion: it does not apply
        why = _passes(score, thresholds)
        criteria[name] = {"n": score.n, "accuracy": score.accuracy, "passed": why is None}
        if why:
            reasons.append(f"{name}: {why}")
    return Admission(
        judge_id=judge.pk,
        rater_id=judge.rater_id,
        judge=judge.rater.name,
        version=judge.version,
        admitted=not reasons,
        reason="; ".join(reasons) or "passes",
        votes=row.votes,
        n=row.overall.n,
        accuracy=row.overall.accuracy,
        kappa=row.overall.kappa,
        position_consistency=row.position_consistency,
        consistency_n=row.consistency_n,
        length_bias=row.length_bias,
        length_n=row.length_n,
        criteria=criteria,
    )


def judge_admissions(*, project: Project) -> tuple[Thresholds, list[Admission]]:
    """Every judge that voted on the project, admitted or not, with its numbers."""
    thresholds = Thresholds.of(project)
    # Judge raters are few: seeking the votes by rater id beats joining every vote to its rater.
    judge_raters = list(Rater.objects.filter(kind=RaterKind.JUDGE).values_list("pk", flat=True))
    voted = (
        set(
            Vote.objects.filter(comparison__project=project, rater_id__in=judge_raters)
            .values_list("rater_id", flat=True)
            .distinct()
        )
        if judge_raters
        else set()
    )
    if not voted:
        return thresholds, []
    judges = Judge.objects.filter(rater_id__in=voted).select_related("rater")
    rows = {row.judge_id: row for row in agreement_report(project=project).judges}
    return thresholds, [_admission(j, rows.get(j.pk), thresholds) for j in judges]


def judge_admitted(*, project: Project, judge: Judge) -> Admission:
    """One judge's standing (for routing): judge_admissions narrowed to it."""
    thresholds = Thresholds.of(project)
    rows = agreement_report(project=project, judge=judge).judges
    return _admission(judge, rows[0] if rows else None, thresholds)


def export_judge_scope(
    *, project_ids: list[int] | None, admission: str, include: Sequence[str]
) -> JudgeScope:
    """The provider annotate's export asks (annotate.services.export.gate)."""
    if project_ids is None:
        project_ids = list(
            Vote.objects.filter(rater__kind=RaterKind.JUDGE)
            .values_list("comparison__project_id", flat=True)
            .distinct()
        )
    wanted = set(include)
    raters: dict[int, frozenset[int]] = {}
    projects = []
    for project in Project.objects.filter(pk__in=project_ids).order_by("pk"):
        thresholds, admissions = judge_admissions(project=project)
        for a in admissions:
            a.included = admission == "any" or a.admitted or a.judge in wanted
        raters[project.pk] = frozenset(a.rater_id for a in admissions if a.included)
        projects.append(
            {
                "project": project.slug,
                "min_agreement": thresholds.min_agreement,
                "min_comparisons": thresholds.min_comparisons,
                "judges": [_record(a, admission, wanted) for a in admissions],
            }
        )
    record = {"admission": admission, "include": sorted(wanted), "projects": projects}
    return JudgeScope(None if admission == "any" else raters, record)


def _record(a: Admission, admission: str, wanted: set[str]) -> dict:
    out = asdict(a)
    if a.included and not a.admitted:
        out["included_by"] = "judge_admission=any" if admission == "any" else "judge_include"
    return out
