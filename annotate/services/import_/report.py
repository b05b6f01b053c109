"""What an import did: counts, and the rows it skipped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# A file of a million bad rows must not hold a million messages in memory.
MAX_REJECTED_LISTED = 1000


@dataclass
class ImportReport:
    created_prompts: int = 0
    duplicate_prompts: int = 0
    created_responses: int = 0
    duplicate_responses: int = 0
    created_comparisons: int = 0
    created_votes: int = 0
    duplicate_votes: int = 0
    """Preference pairs (prompt + chosen + rejected) already imported, from any file, or twice
    in this one: they add no vote."""
    rejected: int = 0
    rejected_rows: list[str] = field(default_factory=list)
    """"file:line: field: message" for the first MAX_REJECTED_LISTED rows skipped."""

    def as_dict(self) -> dict:
        return asdict(self)
