"""Rater quality on a PairwiseTable: agreement with the others, gold accuracy, time, ties and
the two classic biases, each with its test, and which raters to flag and why (no Django).

- agreement: each vote against the majority of the *other* raters on the item (3 labels; items
  whose others split evenly are left out), as accuracy and Cohen's kappa;
- gold accuracy: votes on gold items whose label equals the expected one;
- position bias: share of decisive votes picking the response shown first, among votes whose
  display order was recorded; binomial test against 1/2 (the queue counterbalances the order,
  so an unbiased rater sits near 1/2 whatever the data);
- length bias: share of decisive votes, on pairs of unequal length, picking the longer one;
  one-sided binomial test against the other raters' pooled share (longer answers may well be
  better: a rater is biased when they like length more than their peers do);
- far below: agreement (or gold accuracy) lower than the other raters' pooled rate by at least
  `min_gap`, one-sided binomial test.
Tests need `min_votes` votes; p-values are Bonferroni-corrected over every test run on the page
(raters x tests), and a rater is flagged when any corrected p is below `alpha`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from annotate.stats.agreement import kappa_from_table
from annotate.stats.tables import PairwiseTable

NO_MAJORITY = -1


@dataclass(frozen=True)
class FlagRules:
    alpha: float = 0.01
    """Family-wise significance level (Bonferroni over every test on the page)."""
    min_votes: int = 20
    """Votes a test needs (decisive, with a display order / unequal lengths / a majority)."""
    min_gold: int = 10
    """Gold votes the gold-accuracy test needs."""
    min_gap: float = 0.1
    """How far below the others' agreement or gold accuracy counts as far below."""


@dataclass
class Test:
    n: int
    hits: int
    share: float | None
    null: float | None
    p: float | None
    """Raw p-value; None when the test was not run (too few votes)."""
    p_adjusted: float | None = None


@dataclass
class RaterQuality:
    rater_id: int
    votes: int
    agreement: Test
    kappa: float | None
    gold: Test
    median_time_ms: float | None
    tie_rate: float | None
    both_bad_rate: float | None
    position: Test
    length: Test
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def others_majority(table: PairwiseTable) -> np.ndarray:
    """Per vote: the majority label of the other raters' votes on its item, or NO_MAJORITY."""
    n_items = int(table.item.max()) + 1 if len(table) else 0
    label = table.label
    counts = np.bincount(table.item * 3 + label, minlength=n_items * 3).reshape(n_items, 3)
    others = counts[table.item].copy()
    others[np.arange(len(table)), label] -= 1
    top = others.max(axis=1)
    winners = (others == top[:, None]).sum(axis=1)
    majority = others.argmax(axis=1)
    return np.where((top > 0) & (winners == 1), majority, NO_MAJORITY)


def _binomial(hits: int, n: int, null: float | None, alternative: str, rules: FlagRules) -> Test:
    share = hits / n if n else None
    if n < rules.min_votes or null is None or not 0.0 < null < 1.0:
        return Test(n, hits, share, null, None)
    p = stats.binomtest(hits, n, null, alternative=alternative).pvalue
    return Test(n, hits, share, null, float(p))


def _per_rater(mask: np.ndarray, hit: np.ndarray, rater: np.ndarray, n_raters: int):
    n = np.bincount(rater[mask], minlength=n_raters)
    hits = np.bincount(rater[mask], weights=hit[mask].astype(np.float64), minlength=n_raters)
    return n.astype(np.int64), hits.astype(np.int64)


def _others_rate(n: np.ndarray, hits: np.ndarray, r: int) -> float | None:
    total = n.sum() - n[r]
    return float((hits.sum() - hits[r]) / total) if total else None


def rater_quality(
    table: PairwiseTable,
    *,
    gold: dict[int, int] | None = None,
    rules: FlagRules | None = None,
) -> list[RaterQuality]:
    """Quality of every rater in `table`; `gold` maps comparison id -> expected label (0/1/2)."""
    rules = rules or FlagRules()
    n_raters = int(table.rater_ids.size)
    if not len(table):
        return []
    label, rater = table.label, table.rater
    votes = np.bincount(rater, minlength=n_raters)

    majority = others_majority(table)
    has_majority = majority != NO_MAJORITY
    agree_n, agree_hits = _per_rater(has_majority, label == majority, rater, n_raters)
    kappa_tables = np.zeros((n_raters, 3, 3), np.int64)
    np.add.at(kappa_tables, (rater[has_majority], label[has_majority], majority[has_majority]), 1)

    expected = np.full(table.comparison_ids.size, NO_MAJORITY, np.int64)
    if gold:
        index = {int(c): i for i, c in enumerate(table.comparison_ids)}
        for cid, want in gold.items():
            if cid in index:
                expected[index[cid]] = want
    vote_expected = expected[table.item]
    is_gold = vote_expected != NO_MAJORITY
    gold_n, gold_hits = _per_rater(is_gold, label == vote_expected, rater, n_raters)

    decisive = label < 2
    picked = table.choice  # 0 or 1 where decisive
    seen = decisive & (table.first_shown >= 0)
    pos_n, pos_hits = _per_rater(seen, picked == table.first_shown, rater, n_raters)
    longer = table.longer[table.item]
    unequal = decisive & (longer >= 0)
    len_n, len_hits = _per_rater(unequal, picked == longer, rater, n_raters)

    ties = np.bincount(rater, weights=(table.choice == 2).astype(float), minlength=n_raters)
    both_bad = np.bincount(rater, weights=(table.choice == 3).astype(float), minlength=n_raters)
    order = np.argsort(rater, kind="stable")
    bounds = np.searchsorted(rater[order], np.arange(n_raters + 1))
    times = table.time_ms[order]

    out = []
    for r in range(n_raters):
        t = times[bounds[r] : bounds[r + 1]]
        t = t[~np.isnan(t)]
        others_agree = _others_rate(agree_n, agree_hits, r)
        others_gold = _others_rate(gold_n, gold_hits, r)
        agreement = _binomial(int(agree_hits[r]), int(agree_n[r]), others_agree, "less", rules)
        gold_rules = FlagRules(rules.alpha, rules.min_gold, rules.min_gold, rules.min_gap)
        gold_test = _binomial(int(gold_hits[r]), int(gold_n[r]), others_gold, "less", gold_rules)
        out.append(
            RaterQuality(
                rater_id=int(table.rater_ids[r]),
                votes=int(votes[r]),
                agreement=agreement,
                kappa=kappa_from_table(kappa_tables[r]),
                gold=gold_test,
                median_time_ms=float(np.median(t)) if t.size else None,
                tie_rate=float(ties[r] / votes[r]),
                both_bad_rate=float(both_bad[r] / votes[r]),
                position=_binomial(int(pos_hits[r]), int(pos_n[r]), 0.5, "two-sided", rules),
                length=_binomial(
                    int(len_hits[r]),
                    int(len_n[r]),
                    _others_rate(len_n, len_hits, r),
                    "greater",
                    rules,
                ),
            )
        )
    _flag(out, rules)
    return out


def _flag(raters: list[RaterQuality], rules: FlagRules) -> None:
    tests = [
        (q, name, test)
        for q in raters
        for name, test in (
            ("position", q.position),
            ("length", q.length),
            ("agreement", q.agreement),
            ("gold", q.gold),
        )
        if test.p is not None
    ]
    m = len(tests)
    for q, name, test in tests:
        test.p_adjusted = min(1.0, test.p * m)
        if test.p_adjusted >= rules.alpha:
            continue
        if name == "position":
            side = "first-shown (left)" if test.share > 0.5 else "second-shown (right)"
            q.flags.append(
                f"position bias: picks the {side} response in {test.share:.0%} of "
                f"{test.n} decisive votes (p = {test.p_adjusted:.2g}, Bonferroni)"
            )
        elif name == "length":
            q.flags.append(
                f"length bias: picks the longer response in {test.share:.0%} of {test.n} "
                f"votes, others {test.null:.0%} (p = {test.p_adjusted:.2g}, Bonferroni)"
            )
        elif test.null - test.share >= rules.min_gap:
            what = "agreement with the others' majority" if name == "agreement" else "gold accuracy"
            q.flags.append(
                f"{what} {test.share:.0%} on {test.n} votes, far below the others' "
                f"{test.null:.0%} (p = {test.p_adjusted:.2g}, Bonferroni)"
            )
