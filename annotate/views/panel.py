"""What one comparison looks like to one rater: their display order, their vote, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate.models import (
    Assignment,
    AssignmentStatus,
    ComparisonItem,
    Flag,
    Project,
    Response,
    Vote,
)
from annotate.rendering import word_diff_html

LABELS = "ABCDEFGHIJ"


@dataclass
class ShownResponse:
    label: str
    response: Response
    ratings: dict = field(default_factory=dict)


@dataclass
class Panel:
    project: Project
    assignment: Assignment
    messages: list[dict]
    shown: list[ShownResponse]
    canonical: list[int]
    vote: Vote | None
    # What the form starts with: the stored vote, or one just undone (no longer stored).
    prefill: Vote | None = None
    choice_shown: str = ""
    ranking_shown: list[list[str]] | None = None
    edit_diff: str = ""
    skip_reason: str = ""
    flag: str = ""
    flag_note: str = ""

    @property
    def is_pairwise(self) -> bool:
        return len(self.shown) == 2

    @property
    def comparison_id(self) -> int:
        return self.assignment.comparison_id

    @property
    def display_order(self) -> list[int]:
        return [s.response.pk for s in self.shown]

    @property
    def flag_choices(self) -> list[tuple[str, str]]:
        return list(Flag.choices)

    @property
    def strength_required(self) -> bool:
        return self.is_pairwise and self.project.strength_required

    @property
    def edit_label(self) -> str:
        """The label of the response the prefilled edit started from ("" when none)."""
        edited = self.prefill.edited_response if self.prefill else None
        source = edited.edited_from_id if edited else None
        return next((s.label for s in self.shown if s.response.pk == source), "")


def panel_for(*, project: Project, assignment: Assignment, undone: Vote | None = None) -> Panel:
    """The panel of `assignment`; `undone`, a vote just taken back, refills the form."""
    # One query for the items, their responses, the comparison and its prompt.
    items = list(
        ComparisonItem.objects.filter(comparison_id=assignment.comparison_id)
        .select_related("response", "comparison__prompt")
        .order_by("position")
    )
    comparison = items[0].comparison
    canonical = [i.response_id for i in items]
    by_id = {i.response_id: i.response for i in items}
    order = shown_order(assignment, canonical)
    # Only a finished (or re-opened by undo, which deletes the vote) item can hold a vote.
    vote = None
    if assignment.status == AssignmentStatus.DONE:
        vote = Vote.objects.filter(
            comparison_id=assignment.comparison_id, rater_id=assignment.rater_id
        ).first()
    prefill = vote or undone
    ratings = (prefill.ratings if prefill else {}) or {}
    shown = [
        ShownResponse(label=LABELS[n], response=by_id[rid], ratings=ratings.get(str(rid), {}))
        for n, rid in enumerate(order)
    ]
    panel = Panel(
        project=project,
        assignment=assignment,
        messages=comparison.prompt.messages,
        shown=shown,
        canonical=canonical,
        vote=vote,
        prefill=prefill,
        flag=assignment.flag,
        flag_note=assignment.flag_note,
    )
    if prefill is not None:
        _prefill(panel, prefill, order)
    return panel


def shown_order(assignment: Assignment, canonical: list[int]) -> list[int]:
    """The order this rater sees; canonical if the stored one no longer matches the items."""
    if sorted(assignment.display_order) == sorted(canonical):
        return list(assignment.display_order)
    return list(canonical)


def _prefill(panel: Panel, vote: Vote, order: list[int]) -> None:
    """Show an earlier vote back in the rater's own terms (left/right, their labels)."""
    if vote.choice and panel.is_pairwise:
        swapped = order[0] != panel.canonical[0]
        flip = {"a": "b", "b": "a"}
        panel.choice_shown = flip.get(vote.choice, vote.choice) if swapped else vote.choice
    if vote.ranking:
        label_of = {s.response.pk: s.label for s in panel.shown}
        panel.ranking_shown = [[label_of[rid] for rid in tier] for tier in vote.ranking]
    edited = vote.edited_response
    source = next(
        (s.response for s in panel.shown if edited and s.response.pk == edited.edited_from_id), None
    )
    if source is not None:
        panel.edit_diff = word_diff_html(source.text, edited.text)
