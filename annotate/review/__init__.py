"""Review: disagreement per comparison, flags, and reviewers' final verdicts.

`selectors` reads (the list, flags, the next disagreement, one comparison side by side),
`services` writes (the verdict), `verdicts` names responses and verdicts, `diff` shows edits.
"""

from annotate.review.diff import word_diff
from annotate.review.selectors import (
    comparison_review,
    comparisons_for_review,
    flagged_for_review,
    next_disagreement,
)
from annotate.review.services import adjudication_save
from annotate.review.verdicts import CHOICE_WORDS

__all__ = [
    "CHOICE_WORDS",
    "adjudication_save",
    "comparison_review",
    "comparisons_for_review",
    "flagged_for_review",
    "next_disagreement",
    "word_diff",
]
