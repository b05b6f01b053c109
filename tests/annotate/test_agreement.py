"""Agreement statistics against references computed by hand here (never by the same library)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from annotate.stats.agreement import (
    cohen_kappa,
    fleiss_kappa,
    kendall_tau_b,
    krippendorff_alpha,
    pairwise_kappas,
    tier_ranks,
    value_counts,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers,
# 12 units, values 1-5, missing data (None). Published: nominal 0.743, ordinal 0.815.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _k2011_counts() -> np.ndarray:
    units, values = [], []
    for row in K2011:
        for unit, value in enumerate(row):
            if value is not None:
                units.append(unit)
                values.append(value - 1)
    return value_counts(np.array(units), np.array(values), 5)


def _alpha_by_hand(counts: np.ndarray, delta) -> float:
    """alpha = 1 - D_o / D_e from the coincidence matrix o_ck = sum_u n_uc n_uk' / (m_u - 1)."""
    counts = counts[counts.sum(axis=1) >= 2]
    k = counts.shape[1]
    o = np.zeros((k, k))
    for row in counts:
        m = row.sum()
        for c in range(k):
            for d in range(k):
                o[c, d] += row[c] * (row[d] - (c == d)) / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d2 = np.array([[delta(c, d, n_c) for d in range(k)] for c in range(k)])
    observed = (o * d2).sum() / n
    expected = (np.outer(n_c, n_c) * d2).sum() / (n * (n - 1))
    return 1 - observed / expected


def _nominal(c, d, n_c):
    return float(c != d)


def _ordinal(c, d, n_c):
    lo, hi = min(c, d), max(c, d)
    return (n_c[lo : hi + 1].sum() - (n_c[c] + n_c[d]) / 2) ** 2


def test_krippendorff_nominal_matches_the_worked_example_and_a_hand_computation():
    counts = _k2011_counts()
    hand = _alpha_by_hand(counts, _nominal)
    assert round(hand, 3) == 0.743
    assert krippendorff_alpha(counts, level="nominal") == pytest.approx(hand, abs=1e-12)


def test_krippendorff_ordinal_matches_the_worked_example_and_a_hand_computation():
    counts = _k2011_counts()
    hand = _alpha_by_hand(counts, _ordinal)
    assert round(hand, 3) == 0.815
    assert krippendorff_alpha(counts, level="ordinal") == pytest.approx(hand, abs=1e-12)


def test_alpha_is_none_without_variation_or_pairable_units():
    assert krippendorff_alpha(np.array([[2.0, 0.0], [3.0, 0.0]])) is None
    assert krippendorff_alpha(np.array([[1.0, 0.0], [0.0, 1.0]])) is None


def test_cohen_kappa_on_a_table_derived_by_hand():
    # 10 items, two raters: 4 both "a", 3 both "b", 3 disagree (a/b, a/b, b/a).
    # p_o = 7/10; rater 1: a 6, b 4; rater 2: a 5, b 5; p_e = (6*5 + 4*5)/100 = 1/2;
    # kappa = (0.7 - 0.5) / 0.5 = 0.4.
    first = [0, 0, 0, 0, 1, 1, 1, 0, 0, 1]
    second = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa([0, 0], [0, 0]) is None


def test_fleiss_kappa_on_the_standard_example():
    # Fleiss (1971) as reworked on Wikipedia: 10 items, 14 raters, 5 categories.
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    n = 14
    p_bar = np.mean([(row @ row - n) / (n * (n - 1)) for row in table])
    p_j = table.sum(axis=0) / table.sum()
    hand = (p_bar - p_j @ p_j) / (1 - p_j @ p_j)
    assert round(hand, 3) == 0.210
    assert fleiss_kappa(table) == pytest.approx(hand)


def test_fleiss_kappa_of_two_raters_equals_scotts_pi():
    # Two raters, 4 items: (a,a), (a,b), (b,b), (b,b). p_o = 3/4; pooled p_a = 3/8, p_b = 5/8;
    # p_e = 9/64 + 25/64 = 34/64; pi = (48/64 - 34/64) / (30/64) = 14/30.
    counts = np.array([[2, 0], [1, 1], [0, 2], [0, 2]])
    assert fleiss_kappa(counts) == pytest.approx(14 / 30)


def test_kendall_tau_b_with_ties_matches_a_hand_value():
    # Ranks of four responses by two raters, ties in both: x = 1 2 2 3, y = 1 3 2 2.
    # Pairs: (1,2) C, (1,3) C, (1,4) C, (2,3) tied in x, (2,4) D, (3,4) tied in y.
    # tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2)) = (3 - 1) / sqrt((6 - 1)(6 - 1)) = 0.4.
    assert kendall_tau_b([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.4)
    x = tier_ranks([[10], [11, 12], [13]])
    y = tier_ranks([[10], [12, 13], [11]])
    ids = [10, 11, 12, 13]
    assert kendall_tau_b([x[i] for i in ids], [y[i] for i in ids]) == pytest.approx(0.4)


def test_pairwise_kappas_equal_cohen_per_rater_pair():
    rng = np.random.default_rng(0)
    items, raters, labels = [], [], []
    for item in range(60):
        for rater in rng.choice(4, size=3, replace=False):
            items.append(item)
            raters.append(int(rater))
            labels.append(int(rng.integers(0, 3)))
    item, rater, label = np.array(items), np.array(raters), np.array(labels)
    r1, r2, n, kappa = pairwise_kappas(item, rater, label, 3)
    for a, b, shared, k in zip(r1, r2, n, kappa, strict=True):
        by_item_a = {i: lab for i, r, lab in zip(items, raters, labels, strict=True) if r == a}
        by_item_b = {i: lab for i, r, lab in zip(items, raters, labels, strict=True) if r == b}
        common = sorted(set(by_item_a) & set(by_item_b))
        assert shared == len(common)
        want = cohen_kappa([by_item_a[i] for i in common], [by_item_b[i] for i in common])
        assert (want is None and math.isnan(k)) or k == pytest.approx(want)


def test_ratings_and_rankings_reach_the_project_report(db):
    from annotate.models import Vote
    from annotate.stats.report import project_agreement
    from annotate.stats.tables import pairwise_table, ranking_votes, ratings_table
    from tests.factories import HumanRaterFactory, ProjectFactory, make_comparison

    project = ProjectFactory(criteria=["helpful"])
    raters = [HumanRaterFactory() for _ in range(2)]
    for i in range(4):
        comparison = make_comparison(project=project, n=3)
        a, b, c = (r.pk for r in comparison.ordered_responses())
        for rater in raters:
            Vote.objects.create(
                comparison=comparison,
                rater=rater,
                ranking=[[a], [b, c]] if i % 2 else [[c], [a], [b]],
                ratings={str(a): {"helpful": 5}, str(b): {"helpful": 1 + i}},
            )
    report = project_agreement(
        pairwise_table(project_id=project.pk),
        ratings_table(project_id=project.pk, criteria=["helpful"]),
        ranking_votes(project_id=project.pk),
    )
    assert report.ranking.mean_tau_b == pytest.approx(1.0)
    assert report.ranking.alpha == pytest.approx(1.0)
    assert report.criteria["helpful"].alpha == pytest.approx(1.0)
    assert report.choice is None
