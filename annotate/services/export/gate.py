"""Which AI judges' votes an export counts: the admission gate, seen from the export.

Whether a judge has earned a place in the data is measured above this layer (judges.services.
gate: agreement with the human majority against the project's thresholds). The export only asks,
through a provider that the judges app installs when it starts (JudgesConfig.ready), the way
Django's contrib apps plug into lower ones without being imported by them. With no provider, no
judge is admitted: judge votes then count only when an export asks for every judge explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class JudgeScope:
    """The judges whose votes an export counts, and the gate's record of why."""

    raters: dict[int, frozenset[int]] | None = None
    """{project id: rater ids of the judges whose votes count}; None: every judge counts."""
    record: dict = field(default_factory=dict)
    """JSON for the snapshot's filters: thresholds, each judge's numbers and state."""


Provider = Callable[..., JudgeScope]
_provider: Provider | None = None


def judge_gate_provider_set(provider: Provider | None) -> None:
    """Install the function that decides judge admission:
    provider(*, project_ids: list[int] | None, admission: str, include: Sequence[str])."""
    global _provider
    _provider = provider


def judge_scope_for(
    *, project_ids: list[int] | None, admission: str, include: Sequence[str]
) -> JudgeScope:
    if _provider is not None:
        return _provider(project_ids=project_ids, admission=admission, include=tuple(include))
    if admission == "any":
        return JudgeScope(None, {"admission": "any", "provider": None, "judges": []})
    return JudgeScope({}, {"admission": admission, "provider": None, "judges": []})


def judge_notes(*, record: dict, counts: dict | None = None) -> list[str]:
    """What a snapshot's judge_gate record (and its counts) says about AI-judge votes, one
    line per judge, for the pages and commands that train on an export. Empty when the export
    did not count judge votes or no judge voted."""
    counts = counts or {}
    notes = []
    for project in record.get("projects", []):
        for judge in project.get("judges", []):
            notes.append(_judge_note(judge, project))
    left_out = counts.get("dropped_judge_votes_not_admitted", 0)
    used = counts.get("judge_votes_admitted", 0)
    if notes and counts:
        notes.append(f"AI-judge votes: {used} included, {left_out} left out by the admission gate.")
    return notes


def _judge_note(judge: dict, project: dict) -> str:
    numbers = (
        f"accuracy against the human majority {_percent(judge.get('accuracy'))} on "
        f"{judge.get('n', 0)} comparisons (gate: {_percent(project.get('min_agreement'))} on "
        f"{project.get('min_comparisons')}), position consistency "
        f"{_percent(judge.get('position_consistency'))}, prefers the longer response "
        f"{_percent(judge.get('length_bias'))}"
    )
    name = f"AI judge {judge.get('judge')!r} ({project.get('project')})"
    if judge.get("included") and judge.get("admitted"):
        return f"{name}: votes included, admitted: {numbers}."
    if judge.get("included"):
        how = judge.get("included_by", "by hand")
        return (
            f"{name}: votes INCLUDED although not admitted ({how}; {judge['reason']}): {numbers}."
        )
    return f"{name}: votes left out, not admitted ({judge.get('reason')}): {numbers}."


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"
