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
