"""The preference data model, one module per concern; everything is importable from here."""

from annotate.models.content import (
    Comparison,
    ComparisonItem,
    MessageRole,
    Prompt,
    Response,
    content_hash,
)
from annotate.models.projects import (
    DEFAULT_CRITERIA,
    Membership,
    Project,
    ProjectMode,
    Role,
    default_criteria,
)
from annotate.models.queue import Assignment, AssignmentStatus, Flag
from annotate.models.snapshots import DatasetSnapshot, SnapshotFormat, SnapshotKind
from annotate.models.votes import Adjudication, Choice, Rater, RaterKind, Strength, Vote

__all__ = [
    "DEFAULT_CRITERIA",
    "Adjudication",
    "Assignment",
    "AssignmentStatus",
    "Choice",
    "Comparison",
    "ComparisonItem",
    "DatasetSnapshot",
    "Flag",
    "Membership",
    "MessageRole",
    "Project",
    "ProjectMode",
    "Prompt",
    "Rater",
    "RaterKind",
    "Response",
    "Role",
    "SnapshotFormat",
    "SnapshotKind",
    "Strength",
    "Vote",
    "content_hash",
    "default_criteria",
]
