"""Review reads: what disagrees, what was flagged, and one comparison as a reviewer sees it.

What each rater actually saw (their display order) is shown next to their verdict, so position
bias ("always picks the left one") is visible.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Prefetch, Q

from annotate.models import (
    Adjudication,
    Assignment,
    Choice,
    Comparison,
    ComparisonItem,
    Project,
    Vote,
)
from annotate.review.diff import word_diff
from annotate.review.verdicts import (
    LETTERS,
    Entry,
    agreement_of,
    majority_of,
    readable,
    tiers_of,
    verdict_key,
)


@dataclass
class EditView:
    source: Entry | None
    segments: list[tuple[str, str]]  # ("equal" | "ins" | "del", text), whitespace kept


@dataclass
class VoteView:
    vote: Vote
    disagrees: bool
    verdict: str
    tiers: list[list[Entry]] | None
    shown: list[Entry]
    picked_side: str
    ratings: list[tuple[str, list[tuple[Entry, int | None]]]]
    edit: EditView | None


@dataclass
class ComparisonReview:
    comparison: Comparison
    entries: list[Entry]
    votes: list[VoteView]
    agreement: float
    has_majority: bool
    flags: list[Assignment]
    adjudication: Adjudication | None
    arrangement: list[list[Entry]]  # the ranking the verdict form starts from
    next_id: int | None

    @property
    def is_pairwise(self) -> bool:
        return len(self.entries) == 2

    @property
    def verdict(self) -> str:
        """The reviewer's verdict so far, in the page's own words ("B > A = C")."""
        if self.adjudication is None:
            return ""
        return readable(self.adjudication, {e.response.pk: e for e in self.entries})


@dataclass
class ReviewRow:
    comparison: Comparison
    verdicts: list[tuple[str, str]]  # (rater name, readable verdict)
    agreement: float
    adjudicated: bool
    flags: list[Assignment] = field(default_factory=list)

    @property
    def disagrees(self) -> bool:
        return self.agreement < 1.0


def comparisons_for_review(*, project: Project, only_disagreements: bool = True, limit: int = 200):
    comparisons = (
        Comparison.objects.filter(project=project, vote_count__gte=2)
        .select_related("prompt", "adjudication")
        .prefetch_related(
            Prefetch("votes", queryset=Vote.objects.select_related("rater")),
            Prefetch("items", queryset=_items()),
        )
        .order_by("id")[: limit * 5]
    )
    rows = []
    for comparison in comparisons:
        by_id = {
            i.response_id: Entry(LETTERS[i.position], i.response) for i in comparison.items.all()
        }
        votes = list(comparison.votes.all())
        row = ReviewRow(
            comparison=comparison,
            verdicts=[(v.rater.name, readable(v, by_id)) for v in votes],
            agreement=agreement_of([verdict_key(v) for v in votes]),
            adjudicated=hasattr(comparison, "adjudication"),
        )
        if row.disagrees or not only_disagreements:
            rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def _items():
    return ComparisonItem.objects.select_related("response").order_by("position")


def _flagged(queryset):
    return queryset.filter(Q(flag__gt="") | Q(skip_reason__gt="")).select_related("rater")


def flagged_for_review(*, project: Project, limit: int = 200) -> list[Assignment]:
    """Assignments a rater flagged (unsafe, broken, unclear) or skipped with a comment."""
    return list(
        _flagged(Assignment.objects.filter(project=project))
        .select_related("comparison__prompt")
        .order_by("comparison_id", "id")[:limit]
    )


def _unadjudicated_disagreements(*, project: Project, after_id: int) -> Iterator[int]:
    comparisons = (
        Comparison.objects.filter(
            project=project, vote_count__gte=2, id__gt=after_id, adjudication__isnull=True
        )
        .order_by("id")
        .prefetch_related(
            Prefetch("votes", queryset=Vote.objects.only("comparison", "choice", "ranking"))
        )
    )
    for comparison in comparisons.iterator(chunk_size=200):
        if agreement_of([verdict_key(v) for v in comparison.votes.all()]) < 1.0:
            yield comparison.pk


def next_disagreement(*, project: Project, after_id: int = 0) -> int | None:
    """The next comparison after `after_id` where raters disagree and no reviewer has ruled yet,
    wrapping round to the start; None when none is left."""
    for pk in _unadjudicated_disagreements(project=project, after_id=after_id):
        return pk
    for pk in _unadjudicated_disagreements(project=project, after_id=0):
        return pk if pk != after_id else None
    return None


def _entries(comparison: Comparison) -> list[Entry]:
    items = comparison.items.select_related("response").order_by("position")
    return [Entry(label=LETTERS[i.position], response=i.response) for i in items]


def comparison_review(*, comparison: Comparison) -> ComparisonReview:
    entries = _entries(comparison)
    by_id = {e.response.pk: e for e in entries}
    votes = list(
        comparison.votes.select_related("rater", "edited_response__edited_from").order_by("id")
    )
    keys = [verdict_key(v) for v in votes]
    majority = majority_of(keys)
    criteria = list(comparison.project.criteria or [])
    adjudication = Adjudication.objects.filter(comparison=comparison).first()
    return ComparisonReview(
        comparison=comparison,
        entries=entries,
        votes=[
            _vote_view(v, disagrees=k != majority, by_id=by_id, criteria=criteria)
            for v, k in zip(votes, keys, strict=True)
        ],
        agreement=agreement_of(keys),
        has_majority=majority is not None,
        flags=list(_flagged(comparison.assignments.all()).order_by("id")),
        adjudication=adjudication,
        arrangement=_arrangement(adjudication, votes, keys, majority, entries),
        next_id=next_disagreement(project=comparison.project, after_id=comparison.pk),
    )


def _arrangement(adjudication, votes, keys, majority, entries) -> list[list[Entry]]:
    """Where the verdict form starts: the verdict so far, else the raters' majority ranking,
    else canonical order."""
    by_id = {e.response.pk: e for e in entries}
    ranking = adjudication.ranking if adjudication and adjudication.ranking else None
    if ranking is None:
        ranked = [(v, k) for v, k in zip(votes, keys, strict=True) if v.ranking]
        common = Counter(k for _, k in ranked).most_common(1)
        ranking = next((v.ranking for v, k in ranked if common and k == common[0][0]), None)
    tiers = tiers_of(ranking, by_id) if ranking else []
    if sorted(e.response.pk for t in tiers for e in t) != sorted(by_id):
        return [[e] for e in entries]
    return tiers


def _vote_view(vote: Vote, *, disagrees: bool, by_id: dict[int, Entry], criteria) -> VoteView:
    shown = [by_id[rid] for rid in vote.display_order or [] if rid in by_id]
    if len(shown) != len(by_id):
        shown = []  # not recorded (imported votes, AI judges)
    picked_side = ""
    if shown and len(shown) == 2 and vote.choice in (Choice.A, Choice.B):
        picked = list(by_id.values())[0 if vote.choice == Choice.A else 1]
        picked_side = "left" if shown[0] == picked else "right"
    return VoteView(
        vote=vote,
        disagrees=disagrees,
        verdict=readable(vote, by_id),
        tiers=tiers_of(vote.ranking, by_id) if vote.ranking else None,
        shown=shown,
        picked_side=picked_side,
        ratings=_ratings(vote.ratings or {}, by_id, criteria),
        edit=_edit(vote, by_id),
    )


def _ratings(ratings: dict, by_id: dict[int, Entry], criteria: list[str]):
    named = list(criteria) + sorted(
        {c for scores in ratings.values() for c in scores} - set(criteria)
    )
    rows = []
    for criterion in named:
        scores = [(e, ratings.get(str(rid), {}).get(criterion)) for rid, e in by_id.items()]
        if any(score is not None for _, score in scores):
            rows.append((criterion, scores))
    return rows


def _edit(vote: Vote, by_id: dict[int, Entry]) -> EditView | None:
    edited = vote.edited_response
    if edited is None:
        return None
    source = edited.edited_from
    before = source.text if source is not None else ""
    return EditView(
        source=by_id.get(source.pk) if source is not None else None,
        segments=word_diff(before, edited.text),
    )
