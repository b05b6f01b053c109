"""Rater quality and agreement per project: the statistics of annotate.stats, with the gold
answers that live here (GoldAnswer), as one report for the admin page, the API and
`manage.py rater_quality`.

Reads: `rater_quality_report`. Writes: `gold_answer_set`, `gold_answer_clear`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.db import transaction

from annotate.errors import ValidationError
from annotate.models import Comparison, Project, ProjectMode
from annotate.stats.raters import FlagRules, RaterQuality, rater_quality
from annotate.stats.report import ProjectAgreement, project_agreement
from annotate.stats.tables import LABELS, pairwise_table, ranking_votes, rater_names, ratings_table
from judges.models import GoldAnswer

_GOLD_LABEL = {"a": 0, "b": 1, "tie": 2, "both_bad": 2}


@dataclass
class RaterRow:
    name: str
    quality: RaterQuality
    mean_pairwise_kappa: float | None


@dataclass
class RaterQualityReport:
    project_id: int
    project: str
    mode: str
    votes: int
    gold_items: int
    rules: FlagRules
    agreement: ProjectAgreement
    raters: list[RaterRow] = field(default_factory=list)

    @property
    def flagged(self) -> list[RaterRow]:
        return [r for r in self.raters if r.quality.flagged]

    def as_dict(self) -> dict:
        out = asdict(self)
        out["labels"] = list(LABELS)
        for row, raw in zip(self.raters, out["raters"], strict=True):
            raw["flagged"] = row.quality.flagged
        return out


def gold_labels(*, project: Project) -> dict[int, int]:
    """Comparison id -> expected label code (0 a, 1 b, 2 no preference)."""
    return {
        cid: _GOLD_LABEL[choice]
        for cid, choice in GoldAnswer.objects.filter(project=project).values_list(
            "comparison_id", "choice"
        )
    }


def rater_quality_report(*, project: Project, rules: FlagRules | None = None) -> RaterQualityReport:
    rules = rules or FlagRules()
    table = pairwise_table(project_id=project.pk)
    criteria = [str(c) for c in project.criteria or []]
    ratings = ratings_table(project_id=project.pk, criteria=criteria) if criteria else None
    rankings = ranking_votes(project_id=project.pk) if project.mode == ProjectMode.RANKING else None
    gold = gold_labels(project=project)
    agreement = project_agreement(table, ratings, rankings)
    qualities = rater_quality(table, gold=gold, rules=rules)
    names = rater_names(q.rater_id for q in qualities)
    rows = [
        RaterRow(
            name=names.get(q.rater_id, str(q.rater_id)),
            quality=q,
            mean_pairwise_kappa=agreement.rater_mean_kappa.get(q.rater_id),
        )
        for q in qualities
    ]
    rows.sort(key=lambda r: (not r.quality.flagged, r.name))
    return RaterQualityReport(
        project_id=project.pk,
        project=project.name,
        mode=project.mode,
        votes=len(table),
        gold_items=len(gold),
        rules=rules,
        agreement=agreement,
        raters=rows,
    )


@transaction.atomic
def gold_answer_set(*, comparison: Comparison, choice: str, note: str = "") -> GoldAnswer:
    """Mark a pairwise comparison as gold with its expected answer (again: change the answer)."""
    if choice not in _GOLD_LABEL:
        raise ValidationError(f"choice must be one of {sorted(_GOLD_LABEL)}", field="choice")
    if comparison.items.count() != 2:
        raise ValidationError("gold answers are for pairwise comparisons", field="comparison")
    gold, _ = GoldAnswer.objects.update_or_create(
        comparison=comparison,
        defaults={"project_id": comparison.project_id, "choice": choice, "note": note},
    )
    return gold


def gold_answer_clear(*, comparison: Comparison) -> None:
    GoldAnswer.objects.filter(comparison=comparison).delete()
