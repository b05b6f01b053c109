"""The field's standard agreement statistics, on plain arrays (no Django).

- Krippendorff's alpha (the `krippendorff` library) from value counts (units x values): any
  number of raters, missing votes allowed; nominal for choices, ordinal for strength and ratings.
  Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011).
- Cohen's kappa of two label sequences: (p_o - p_e) / (1 - p_e). Cohen (1960).
- Fleiss' kappa from category counts per item, generalised to a varying number of raters per
  item (items with fewer than two are left out): P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)),
  p_j = sum_i n_ij / sum_i n_i, kappa = (mean P_i - sum_j p_j^2) / (1 - sum_j p_j^2). Fleiss (1971).
- Kendall's tau-b, which corrects for ties on either side (scipy.stats.kendalltau, variant "b").

Every function returns None where the statistic is undefined (no data, no variation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import krippendorff
import numpy as np
from scipy import stats


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def value_counts(units: np.ndarray, values: np.ndarray, n_values: int) -> np.ndarray:
    """units x values matrix of how many raters gave each value (0..n_values-1) to each unit.

    `units` are dense unit indices (0..U-1); one row per vote."""
    units = np.asarray(units, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    n_units = int(units.max()) + 1 if units.size else 0
    flat = np.bincount(units * n_values + values, minlength=n_units * n_values)
    return flat.reshape(n_units, n_values).astype(np.float64)


def krippendorff_alpha(counts: np.ndarray, *, level: str = "nominal") -> float | None:
    """Alpha from a units x values count matrix; values are 0..V-1 in their natural order."""
    counts = np.asarray(counts, dtype=np.float64)
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.shape[0] == 0 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        value = krippendorff.alpha(
            value_counts=pairable,
            value_domain=list(range(counts.shape[1])),
            level_of_measurement=level,
        )
    return _finite(value)


def cohen_kappa(
    first: Sequence[int] | np.ndarray, second: Sequence[int] | np.ndarray
) -> float | None:
    """Cohen's kappa of two equally long label sequences (integer codes)."""
    x, y = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    if x.size == 0:
        return None
    k = int(max(x.max(), y.max())) + 1
    table = np.bincount(x * k + y, minlength=k * k).reshape(k, k)
    return kappa_from_table(table)


def kappa_from_table(table: np.ndarray) -> float | None:
    """Cohen's kappa from a k x k contingency table (rows: first rater, columns: second)."""
    table = np.asarray(table, dtype=np.float64)
    n = table.sum()
    if n == 0:
        return None
    observed = np.trace(table) / n
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / (n * n)
    if expected >= 1.0:
        return None
    return _finite((observed - expected) / (1.0 - expected))


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from an items x categories count matrix (see the module docstring)."""
    counts = np.asarray(counts, dtype=np.float64)
    n_i = counts.sum(axis=1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    if counts.shape[0] == 0:
        return None
    p_i = ((counts * counts).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_j = counts.sum(axis=0) / n_i.sum()
    chance = float((p_j * p_j).sum())
    if chance >= 1.0:
        return None
    return _finite((p_i.mean() - chance) / (1.0 - chance))


def kendall_tau_b(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Kendall's tau-b of two rankings of the same items (lower = better; ties allowed)."""
    if len(first) < 2:
        return None
    result = stats.kendalltau(first, second, variant="b")
    return _finite(result.statistic)


def tier_ranks(ranking: Sequence[Sequence[int]]) -> dict[int, int]:
    """{response id: tier index} for a ranking given as tiers, best first ([[12], [10, 11]])."""
    return {int(rid): tier for tier, ids in enumerate(ranking or []) for rid in ids}


def vote_pairs(
    item: np.ndarray, rater: np.ndarray, label: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of votes on the same item as (rater 1, rater 2, label 1, label 2), rater 1 <
    rater 2. Sorted by item, pairs are (i, i + k) for k below the largest overlap: a few passes."""
    order = np.lexsort((rater, item))
    item, rater, label = item[order], rater[order], label[order]
    parts: list[tuple[np.ndarray, ...]] = []
    k = 1
    while k < item.size:
        same = item[k:] == item[:-k]
        if not same.any():
            break
        i = np.nonzero(same)[0]
        parts.append((rater[i], rater[i + k], label[i], label[i + k]))
        k += 1
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def pairwise_kappas(
    item: np.ndarray, rater: np.ndarray, label: np.ndarray, n_labels: int, min_shared: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's kappa of every rater pair on the items both rated: (rater 1, rater 2, shared
    items, kappa; NaN where undefined), for pairs sharing at least `min_shared` items."""
    r1, r2, l1, l2 = vote_pairs(item, rater, label)
    n_raters = int(rater.max()) + 1 if rater.size else 0
    cells = n_labels * n_labels
    code = (r1 * n_raters + r2) * cells + l1 * n_labels + l2
    keys, counts = np.unique(code, return_counts=True)
    pair, cell = keys // cells, keys % cells
    pairs, slot = np.unique(pair, return_inverse=True)
    tables = np.zeros((pairs.size, cells), np.float64)
    tables[slot, cell] = counts
    tables = tables.reshape(-1, n_labels, n_labels)
    n = tables.sum(axis=(1, 2))
    keep = n >= min_shared
    tables, n, pairs = tables[keep], n[keep], pairs[keep]
    observed = np.trace(tables, axis1=1, axis2=2) / n
    expected = np.einsum("pi,pi->p", tables.sum(axis=2), tables.sum(axis=1)) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(expected < 1.0, (observed - expected) / (1.0 - expected), np.nan)
    return pairs // n_raters, pairs % n_raters, n.astype(np.int64), kappa
