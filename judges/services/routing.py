"""RLAIF modes: who labels each comparison of a project, the judge or people.

The human queue only offers comparisons with a free slot (Comparison.slots_taken < overlap). A
comparison the judge settles gets `overlap` extra slots held in its name (ComparisonRoute.
slots_held), so no human is offered it; one routed back to people gets exactly those slots back
and is marked reopened, so raters whose queue cursor already passed it still see it. Open human
assignments are never touched. The judge's own vote never takes a slot.

- humans: everything goes to people (the judge may still vote, for measuring agreement).
- judge_only: every comparison the judge voted on is settled.
- prelabel: the judge settles what it is sure of; comparisons whose two orders disagree, or
  whose confidence is below the threshold, go to people.
- calibrate: a gold sample always goes to people; once the judge's accuracy against their
  majority on every gold comparison reaches the threshold, the judge settles the rest except an
  audit sample (a stable pseudo-random share), which keeps going to people. A gold comparison
  whose people split evenly would block calibration for good (the queue gives it `overlap`
  raters, no more): it gets one more rater slot (annotate.services.tiebreak) each time it is
  full and still split, and a reviewer's verdict on it counts as its human label.

judge_only and prelabel trust the judge without a gold sample, so they settle nothing until the
judge passes the project's admission gate (judges.services.gate): until then its comparisons go
to people with the reason "not admitted". Calibrate mode is its own gate (the gold sample).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from annotate.errors import ValidationError
from annotate.models import Comparison, Project
from annotate.services.tiebreak import comparisons_tiebreak_open
from judges.models import (
    ComparisonRoute,
    Judge,
    JudgingMode,
    ProjectJudging,
    RouteDecision,
    RouteReason,
)
from judges.selectors import Score, human_verdicts, judge_labels
from judges.services.gate import judge_admitted

_GATED = (JudgingMode.JUDGE_ONLY, JudgingMode.PRELABEL)


@dataclass(frozen=True)
class Route:
    decision: str
    reason: str
    confidence: float | None = None


def _stable_fraction(salt: str, project_id: int, comparison_id: int) -> float:
    digest = hashlib.sha256(f"{salt}:{project_id}:{comparison_id}".encode()).hexdigest()
    return int(digest[:12], 16) / float(16**12)


def gold_ids(*, project: Project, size: int) -> list[int]:
    """The gold sample: `size` pairwise comparisons in a stable pseudo-random order.

    Pairwise only, because agreement is measured on pairs (N-way comparisons are routed like
    the rest once the judge is calibrated)."""
    ids = (
        Comparison.objects.filter(project=project)
        .annotate(n=Count("items"))
        .filter(n=2)
        .values_list("pk", flat=True)
    )
    return sorted(ids, key=lambda pk: _stable_fraction("gold", project.pk, pk))[:size]


def in_audit(*, project: Project, comparison_id: int, rate: float) -> bool:
    return _stable_fraction("audit", project.pk, comparison_id) < rate


def project_judging_set(
    *,
    project: Project,
    mode: str,
    judge: Judge | None = None,
    confidence_threshold: float | None = None,
    gold_size: int | None = None,
    agreement_threshold: float | None = None,
    audit_rate: float | None = None,
    judge_min_agreement: float | None = None,
    judge_min_comparisons: int | None = None,
    apply: bool = True,
) -> ProjectJudging:
    """Set the project's RLAIF mode (and thresholds), then route its comparisons accordingly."""
    if mode not in JudgingMode.values:
        raise ValidationError(f"mode must be one of {JudgingMode.values}", field="mode")
    if mode != JudgingMode.HUMANS and judge is None:
        raise ValidationError(f"mode {mode!r} needs a judge", field="judge")
    for name, value in (
        ("confidence_threshold", confidence_threshold),
        ("agreement_threshold", agreement_threshold),
        ("audit_rate", audit_rate),
        ("judge_min_agreement", judge_min_agreement),
    ):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValidationError("must be between 0 and 1", field=name)
    if judge_min_comparisons is not None and judge_min_comparisons < 0:
        raise ValidationError("must be 0 or more", field="judge_min_comparisons")
    judging, _ = ProjectJudging.objects.get_or_create(project=project)
    changed_gold = gold_size is not None and gold_size != judging.gold_size
    judging.mode, judging.judge = mode, judge
    for name, value in (
        ("confidence_threshold", confidence_threshold),
        ("gold_size", gold_size),
        ("agreement_threshold", agreement_threshold),
        ("audit_rate", audit_rate),
        ("judge_min_agreement", judge_min_agreement),
        ("judge_min_comparisons", judge_min_comparisons),
    ):
        if value is not None:
            setattr(judging, name, value)
    if changed_gold:
        judging.calibration, judging.calibrated_at = {}, None
    judging.save()
    if apply:
        routing_apply(project=project)
        judging.refresh_from_db()
    return judging


def calibration_measure(*, judging: ProjectJudging, gold: list[int]) -> dict:
    """The judge against the human label (majority, or a reviewer's verdict) on the gold sample;
    passes when every gold comparison has a human label and a judge vote, and accuracy reaches
    the threshold. `gold_split`: gold comparisons whose people split evenly (tie-break due)."""
    project = judging.project
    verdicts = human_verdicts(project=project)
    humans = verdicts.labels
    judged = judge_labels(project=project, judge=judging.judge) if judging.judge else {}
    pairs = [
        (judged[cid]["label"], humans[cid])
        for cid in gold
        if cid in humans and cid in judged and judged[cid]["label"]
    ]
    score = Score.of(pairs)
    ready = len(pairs) >= len(gold) > 0
    passed = ready and score.accuracy is not None and score.accuracy >= judging.agreement_threshold
    audited = ComparisonRoute.objects.filter(project=project, reason=RouteReason.AUDIT)
    audit = [
        (judged[cid]["label"], humans[cid])
        for cid in audited.values_list("comparison_id", flat=True)
        if cid in humans and cid in judged and judged[cid]["label"]
    ]
    audit_score = Score.of(audit)
    return {
        "gold_ids": gold,
        "gold_labeled": len(pairs),
        "gold_split": [cid for cid in verdicts.splits if cid in set(gold)],
        "accuracy": score.accuracy,
        "kappa": score.kappa,
        "threshold": judging.agreement_threshold,
        "passed": passed,
        "audit_n": audit_score.n,
        "audit_accuracy": audit_score.accuracy,
        "measured_at": timezone.now().isoformat(),
    }


def _decide(
    judging: ProjectJudging | None,
    cid: int,
    verdict: dict | None,
    gold: set[int],
    admitted: bool = True,
):
    mode = judging.mode if judging else JudgingMode.HUMANS
    confidence = verdict.get("confidence") if verdict else None
    human = lambda reason: Route(RouteDecision.HUMAN, reason, confidence)  # noqa: E731
    if mode == JudgingMode.HUMANS:
        return human(RouteReason.HUMANS_ONLY)
    if mode == JudgingMode.CALIBRATE:
        if cid in gold:
            return human(RouteReason.GOLD)
        if not judging.calibrated:
            return human(RouteReason.CALIBRATING)
        if in_audit(project=judging.project, comparison_id=cid, rate=judging.audit_rate):
            return human(RouteReason.AUDIT)
    if verdict is None:
        return human(RouteReason.AWAITING_JUDGE)
    if mode in (JudgingMode.JUDGE_ONLY, JudgingMode.PRELABEL) and not admitted:
        return human(RouteReason.NOT_ADMITTED)
    if mode == JudgingMode.JUDGE_ONLY:
        return Route(RouteDecision.JUDGE, RouteReason.JUDGE_ONLY, confidence)
    if mode == JudgingMode.CALIBRATE:
        return Route(RouteDecision.JUDGE, RouteReason.CALIBRATED, confidence)
    if verdict.get("consistent") is False:
        return human(RouteReason.INCONSISTENT)
    if confidence is None or confidence < judging.confidence_threshold:
        return human(RouteReason.LOW_CONFIDENCE)
    return Route(RouteDecision.JUDGE, RouteReason.CONFIDENT, confidence)


def routing_apply(*, project: Project) -> Counter:
    """Route every comparison of the project by its current mode; returns {decision: count}."""
    judging = ProjectJudging.objects.filter(project=project).select_related("judge").first()
    gold: list[int] = []
    if judging is not None and judging.mode == JudgingMode.CALIBRATE:
        gold = gold_ids(project=project, size=judging.gold_size)
        judging.calibration = calibration_measure(judging=judging, gold=gold)
        judging.calibration["tiebreak_opened"] = comparisons_tiebreak_open(
            comparison_ids=judging.calibration["gold_split"]
        )
        passed = judging.calibration["passed"]
        if passed and judging.calibrated_at is None:
            judging.calibrated_at = timezone.now()
        elif not passed:
            judging.calibrated_at = None
        judging.save(update_fields=["calibration", "calibrated_at", "updated_at"])
    verdicts = (
        judge_labels(project=project, judge=judging.judge)
        if judging is not None and judging.judge_id
        else {}
    )
    judge_id = judging.judge_id if judging else None
    admitted = True
    if judging is not None and judging.judge_id and judging.mode in _GATED:
        admitted = judge_admitted(project=project, judge=judging.judge).admitted
    existing = {r.comparison_id: r for r in ComparisonRoute.objects.filter(project=project)}
    gold_set = set(gold)
    counts: Counter = Counter()
    settle, release, create, update = [], defaultdict(list), [], []
    for cid in Comparison.objects.filter(project=project).values_list("pk", flat=True):
        route = _decide(judging, cid, verdicts.get(cid), gold_set, admitted)
        counts[route.decision] += 1
        current = existing.get(cid)
        if current is None:
            current = ComparisonRoute(comparison_id=cid, project=project, slots_held=0)
            create.append(current)
        elif (current.decision, current.reason, current.judge_id, current.confidence) == (
            route.decision,
            route.reason,
            judge_id,
            route.confidence,
        ):
            continue
        else:
            update.append(current)
        if route.decision == RouteDecision.JUDGE and current.slots_held == 0:
            settle.append(cid)
            current.slots_held = project.overlap
        elif route.decision == RouteDecision.HUMAN and current.slots_held:
            release[current.slots_held].append(cid)
            current.slots_held = 0
        current.judge_id, current.decision = judge_id, route.decision
        current.reason, current.confidence = route.reason, route.confidence
    with transaction.atomic():
        for chunk in _chunks(settle):
            Comparison.objects.filter(pk__in=chunk).update(
                slots_taken=F("slots_taken") + project.overlap, reopened=False
            )
        for held, ids in release.items():
            for chunk in _chunks(ids):
                _release(chunk, held)
        ComparisonRoute.objects.bulk_create(create, batch_size=500)
        ComparisonRoute.objects.bulk_update(
            update, ["judge", "decision", "reason", "confidence", "slots_held"], batch_size=500
        )
    return counts


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _release(comparison_ids: list[int], held: int) -> None:
    """Give back the slots the judge held; routed to people, they are offered again."""
    # Fewer slots than held should not happen; clamp those to zero first, so the subtraction
    # below (which moves counts under `held`) cannot be clamped a second time.
    Comparison.objects.filter(pk__in=comparison_ids, slots_taken__lt=held).update(
        slots_taken=0, reopened=True
    )
    Comparison.objects.filter(pk__in=comparison_ids, slots_taken__gte=held).update(
        slots_taken=F("slots_taken") - held, reopened=True
    )
