"""Word diffs of a rater's edit against the response it started from."""

from __future__ import annotations

import difflib
import re

_TOKENS = re.compile(r"\s+|[^\s]+")


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff as ("equal" | "del" | "ins", text) runs; spaces and line breaks are kept
    as tokens of their own, so the diff reads like the text (shown with white-space: pre-wrap)."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            _append(out, "equal", "".join(a[i1:i2]))
            continue
        if op in ("delete", "replace"):
            _append(out, "del", "".join(a[i1:i2]))
        if op in ("insert", "replace"):
            _append(out, "ins", "".join(b[j1:j2]))
    return out


def _append(out: list[tuple[str, str]], op: str, text: str) -> None:
    if not text:
        return
    if out and out[-1][0] == op:
        out[-1] = (op, out[-1][1] + text)
    else:
        out.append((op, text))
