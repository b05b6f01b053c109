"""What to export and how: the options a snapshot records as its filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from annotate.errors import ValidationError
from annotate.models import RaterKind, SnapshotFormat, SnapshotKind
from annotate.services.export.aggregate import Rules


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

    def __post_init__(self) -> None:
        # Normalise so ExportOptions(kind=SnapshotKind.KTO) and kind="kto" record the same.
        object.__setattr__(self, "kind", str(self.kind))
        object.__setattr__(self, "format", str(self.format))
        object.__setattr__(self, "rater_kinds", tuple(str(k) for k in self.rater_kinds))

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

    @property
    def rules(self) -> Rules:
        return Rules(
            min_agreement=self.min_agreement,
            keep_ties=self.keep_ties,
            keep_both_bad=self.keep_both_bad,
        )

    @property
    def all_rater_kinds(self) -> bool:
        return set(self.rater_kinds) >= set(RaterKind.values)

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
        }
