"""What to export and how: the options a snapshot records as its filters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.db import models

from annotate.errors import ValidationError
from annotate.models import RaterKind, SnapshotFormat, SnapshotKind
from annotate.services.export.aggregate import Rules


class JudgeVotes(models.TextChoices):
    """Whether AI-judge votes count: a shorthand over `rater_kinds` that says so explicitly."""

    INCLUDE = "include", "Include"
    EXCLUDE = "exclude", "Exclude"
    ONLY = "only", "Only judge votes"


class JudgeAdmission(models.TextChoices):
    """Which judges' votes count when judge votes count at all (see export/gate.py)."""

    ADMITTED = "admitted", "Admitted judges only (agreement with people passes the gate)"
    ANY = "any", "Every judge, admitted or not"


@dataclass(frozen=True)
class ExportOptions:
    kind: str = SnapshotKind.PREFERENCE
    """preference (prompt/chosen/rejected), kto (prompt/completion/label) or sft."""
    format: str = SnapshotFormat.STANDARD
    """standard (strings) or conversational (lists of messages)."""
    rater_kinds: tuple[str, ...] = (RaterKind.HUMAN, RaterKind.JUDGE, RaterKind.IMPORTED)
    """Only votes cast by raters of these kinds count."""
    since: datetime | None = None
    """Only votes created at or after this moment count."""
    until: datetime | None = None
    """Only votes created at or before this moment count."""
    min_agreement: float = 0.0
    """Drop decisions where fewer than this share of the votes agree with the majority."""
    keep_ties: bool = False
    """Keep tie verdicts as a pair written both ways round (margin 0) instead of dropping them."""
    keep_both_bad: bool = False
    """Keep both-bad verdicts: both ways round for pairs, both labelled undesirable for KTO."""
    include_margin: bool = False
    """Add a float "margin" column (RewardTrainer subtracts it inside the loss)."""
    prefer_adjudication: bool = True
    """A reviewer's final verdict on a pairwise comparison replaces the raters' majority."""
    judge_votes: str = JudgeVotes.INCLUDE
    """include: judge votes count with the others (as `rater_kinds` allows); exclude: they never
    count; only: nothing but judge votes counts. Applied on top of `rater_kinds`, and only the
    votes of the judges `judge_admission` lets in count."""
    judge_admission: str = JudgeAdmission.ADMITTED
    """admitted: only judges that pass the project's admission gate (agreement with the human
    majority, judges.services.gate) count, plus those named in `judge_include`; any: every
    judge counts. Either way the gate's numbers are recorded in the snapshot's filters."""
    judge_include: tuple[str, ...] = ()
    """Judges (by name) whose votes count although the gate does not admit them: recorded in
    the snapshot as included by hand."""
    judge_weight: float = 1.0
    """What one judge vote weighs against one human (or imported) vote, > 0: in the majority
    tally, the agreement share and the margin. 0.5: two judges outvote one human, not one."""
    judge_soft_labels: bool = False
    """A pairwise judge vote with a preference probability p counts p toward "a" and 1 - p toward
    "b" (times judge_weight) instead of its whole weight toward its verdict."""
    judge_min_confidence: float = 0.0
    """Drop judge votes whose metadata "confidence" is below this (0..1). Above 0, a judge vote
    without a numeric confidence is dropped too: it cannot show that it meets the bar."""
    judge_consistent_only: bool = False
    """Drop judge votes whose metadata "position_consistent" is false (the two presentation
    orders disagreed). Votes that record no consistency (judged in one order) are kept."""

    def __post_init__(self) -> None:
        # Normalise so ExportOptions(kind=SnapshotKind.KTO) and kind="kto" record the same.
        object.__setattr__(self, "kind", str(self.kind))
        object.__setattr__(self, "format", str(self.format))
        object.__setattr__(self, "rater_kinds", tuple(str(k) for k in self.rater_kinds))
        object.__setattr__(self, "judge_votes", str(self.judge_votes))
        object.__setattr__(self, "judge_admission", str(self.judge_admission))
        object.__setattr__(self, "judge_include", tuple(str(n) for n in self.judge_include))

    def validate(self) -> None:
        if self.kind not in SnapshotKind.values:
            raise ValidationError(f"kind must be one of {SnapshotKind.values}", field="kind")
        if self.format not in SnapshotFormat.values:
            raise ValidationError(f"format must be one of {SnapshotFormat.values}", field="format")
        if not self.rater_kinds:
            raise ValidationError("choose at least one rater kind", field="rater_kinds")
        unknown = sorted(set(self.rater_kinds) - set(RaterKind.values))
        if unknown:
            raise ValidationError(
                f"unknown rater kind {unknown}; known: {RaterKind.values}", field="rater_kinds"
            )
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ValidationError("must be between 0 and 1", field="min_agreement")
        if self.since and self.until and self.since > self.until:
            raise ValidationError("since is after until", field="since")
        self._validate_judge_options()

    def _validate_judge_options(self) -> None:
        if self.judge_votes not in JudgeVotes.values:
            raise ValidationError(
                f"judge_votes must be one of {JudgeVotes.values}", field="judge_votes"
            )
        if self.judge_admission not in JudgeAdmission.values:
            raise ValidationError(
                f"judge_admission must be one of {JudgeAdmission.values}", field="judge_admission"
            )
        if not self.vote_rater_kinds:
            raise ValidationError(
                f"judge_votes={self.judge_votes!r} with rater_kinds {list(self.rater_kinds)} "
                "leaves no vote to export",
                field="judge_votes",
            )
        if not (_is_number(self.judge_weight) and self.judge_weight > 0):
            raise ValidationError("must be a number greater than 0", field="judge_weight")
        if not (_is_number(self.judge_min_confidence) and 0 <= self.judge_min_confidence <= 1):
            raise ValidationError("must be between 0 and 1", field="judge_min_confidence")

    @property
    def rules(self) -> Rules:
        return Rules(
            min_agreement=self.min_agreement,
            keep_ties=self.keep_ties,
            keep_both_bad=self.keep_both_bad,
        )

    @property
    def vote_rater_kinds(self) -> tuple[str, ...]:
        """The rater kinds whose votes count, once `judge_votes` is applied to `rater_kinds`."""
        if self.judge_votes == JudgeVotes.ONLY:
            return tuple(k for k in self.rater_kinds if k == RaterKind.JUDGE)
        if self.judge_votes == JudgeVotes.EXCLUDE:
            return tuple(k for k in self.rater_kinds if k != RaterKind.JUDGE)
        return self.rater_kinds

    @property
    def all_rater_kinds(self) -> bool:
        return set(self.vote_rater_kinds) >= set(RaterKind.values)

    @property
    def counts_judges(self) -> bool:
        return RaterKind.JUDGE in self.vote_rater_kinds

    @property
    def weighs_judges(self) -> bool:
        """Whether judge votes count other than as one plain vote each (the reader then reads
        every vote's rater kind and preference probability)."""
        return self.counts_judges and (self.judge_weight != 1 or self.judge_soft_labels)

    @property
    def filters_judges(self) -> bool:
        """Whether some judge votes may be dropped for their metadata."""
        return self.counts_judges and (self.judge_min_confidence > 0 or self.judge_consistent_only)

    def as_filters(self) -> dict:
        """JSON-ready, for DatasetSnapshot.filters."""
        return {
            "kind": self.kind,
            "format": self.format,
            "rater_kinds": sorted(self.rater_kinds),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "min_agreement": self.min_agreement,
            "keep_ties": self.keep_ties,
            "keep_both_bad": self.keep_both_bad,
            "include_margin": self.include_margin,
            "prefer_adjudication": self.prefer_adjudication,
            "judge_votes": self.judge_votes,
            "judge_admission": self.judge_admission,
            "judge_include": sorted(self.judge_include),
            "judge_weight": self.judge_weight,
            "judge_soft_labels": self.judge_soft_labels,
            "judge_min_confidence": self.judge_min_confidence,
            "judge_consistent_only": self.judge_consistent_only,
        }


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
