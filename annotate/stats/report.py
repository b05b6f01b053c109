"""A project's agreement statistics: pairwise choices, strength, 1-5 ratings per criterion and
N-way rankings, from the selectors in annotate.stats.tables (pure once the tables are loaded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from annotate.stats.agreement import (
    fleiss_kappa,
    kendall_tau_b,
    krippendorff_alpha,
    pairwise_kappas,
    value_counts,
)
from annotate.stats.tables import STRENGTH_LEVELS, PairwiseTable, RatingsTable


@dataclass
class Agreement:
    """One measured quantity: how many units (items) and votes it rests on, and its statistics."""

    units: int
    votes: int
    alpha: float | None
    level: str
    fleiss_kappa: float | None = None
    mean_cohen_kappa: float | None = None
    rater_pairs: int = 0
    mean_tau_b: float | None = None


@dataclass
class ProjectAgreement:
    choice: Agreement | None = None
    strength: Agreement | None = None
    criteria: dict[str, Agreement] = field(default_factory=dict)
    ranking: Agreement | None = None
    rater_mean_kappa: dict[int, float] = field(default_factory=dict)
    """Rater id -> mean Cohen's kappa with each other rater (pairs sharing min_shared items)."""


def _multi(item: np.ndarray) -> int:
    return int((np.bincount(item) >= 2).sum()) if item.size else 0


def choice_agreement(
    table: PairwiseTable, *, min_shared: int = 5
) -> tuple[Agreement | None, dict[int, float]]:
    if not len(table):
        return None, {}
    counts = value_counts(table.item, table.label, 3)
    r1, r2, _, kappas = pairwise_kappas(table.item, table.rater, table.label, 3, min_shared)
    ok = ~np.isnan(kappas)
    per_rater: dict[int, float] = {}
    if ok.any():
        sums = np.bincount(r1[ok], kappas[ok], table.rater_ids.size) + np.bincount(
            r2[ok], kappas[ok], table.rater_ids.size
        )
        n = np.bincount(r1[ok], minlength=table.rater_ids.size) + np.bincount(
            r2[ok], minlength=table.rater_ids.size
        )
        per_rater = {int(table.rater_ids[r]): float(sums[r] / n[r]) for r in np.nonzero(n)[0]}
    return (
        Agreement(
            units=_multi(table.item),
            votes=len(table),
            alpha=krippendorff_alpha(counts, level="nominal"),
            level="nominal",
            fleiss_kappa=fleiss_kappa(counts),
            mean_cohen_kappa=float(kappas[ok].mean()) if ok.any() else None,
            rater_pairs=int(ok.sum()),
        ),
        per_rater,
    )


def strength_agreement(table: PairwiseTable) -> Agreement | None:
    """Ordinal alpha on signed strength (a much ... tie ... b much); votes without one left out."""
    has = table.strength >= 0
    decisive = table.label < 2
    if not (has & decisive).any():
        return None
    counts = value_counts(table.item[has], table.strength[has], STRENGTH_LEVELS)
    return Agreement(
        units=_multi(table.item[has]),
        votes=int(has.sum()),
        alpha=krippendorff_alpha(counts, level="ordinal"),
        level="ordinal",
    )


def criteria_agreement(ratings: RatingsTable) -> dict[str, Agreement]:
    out = {}
    for criterion in ratings.criteria:
        if criterion not in ratings.value:
            continue
        unit, value = ratings.unit[criterion], ratings.value[criterion]
        out[criterion] = Agreement(
            units=_multi(unit),
            votes=int(value.size),
            alpha=krippendorff_alpha(value_counts(unit, value, 5), level="ordinal"),
            level="ordinal",
        )
    return out


def ranking_agreement(rankings: dict[int, dict[int, dict[int, int]]]) -> Agreement | None:
    """Ordinal alpha on tiers (a unit is one response of one comparison) and the mean tau-b of
    every two raters' rankings of the same comparison."""
    units, values, taus, votes = [], [], [], 0
    unit_index: dict[tuple[int, int], int] = {}
    max_tier = 0
    for cid, by_rater in rankings.items():
        votes += len(by_rater)
        for ranks in by_rater.values():
            for rid, tier in ranks.items():
                units.append(unit_index.setdefault((cid, rid), len(unit_index)))
                values.append(tier)
                max_tier = max(max_tier, tier)
        for x, y in combinations(by_rater.values(), 2):
            shared = sorted(set(x) & set(y))
            tau = kendall_tau_b([x[r] for r in shared], [y[r] for r in shared])
            if tau is not None:
                taus.append(tau)
    if not units:
        return None
    counts = value_counts(np.array(units), np.array(values), max_tier + 1)
    return Agreement(
        units=sum(1 for by_rater in rankings.values() if len(by_rater) >= 2),
        votes=votes,
        alpha=krippendorff_alpha(counts, level="ordinal"),
        level="ordinal",
        mean_tau_b=float(np.mean(taus)) if taus else None,
        rater_pairs=len(taus),
    )


def project_agreement(
    table: PairwiseTable,
    ratings: RatingsTable | None = None,
    rankings: dict[int, dict[int, dict[int, int]]] | None = None,
) -> ProjectAgreement:
    choice, per_rater = choice_agreement(table)
    return ProjectAgreement(
        choice=choice,
        strength=strength_agreement(table) if len(table) else None,
        criteria=criteria_agreement(ratings) if ratings else {},
        ranking=ranking_agreement(rankings) if rankings else None,
        rater_mean_kappa=per_rater,
    )
