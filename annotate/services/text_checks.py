"""Text and JSON values the database cannot store, found before they reach it.

Two kinds of string break a write, whatever the field: a lone UTF-16 surrogate ("\\ud800", which
JSON's escapes can spell but UTF-8 cannot encode: content_hash and every database driver fail
on it) and NUL ("\\u0000": fine on SQLite, refused by PostgreSQL in text and jsonb columns).
Nesting is bounded too: a JSON value hundreds of levels deep exhausts Python's recursion limit in
json.dumps and in PostgreSQL's jsonb parser long before it means anything.
"""

from __future__ import annotations

import re

from annotate.errors import ValidationError

MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    found = _SURROGATE.search(text)
    if found:
        return (
            f"contains a lone surrogate (U+{ord(found.group()):04X}) at character "
            f"{found.start()}: not valid Unicode text"
        )
    if "\x00" in text:
        return f"contains a NUL character (U+0000) at character {text.index(chr(0))}"
    return None


def value_problem(value: object, *, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """(where, why) for the first string or key of a JSON value that cannot be stored, or for
    nesting deeper than MAX_DEPTH; None when the whole value can be stored."""
    if depth > MAX_DEPTH:
        return path, f"nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and (problem := text_problem(key)):
            return where, f"key {problem}"
        found = value_problem(item, path=where, depth=depth + 1)
        if found:
            return found
    return None


def field_problem(record: dict) -> tuple[str | None, str] | None:
    """(field, why) for the first value of a record (a request body, an imported row) that cannot
    be stored: the field is its top-level key, the message says where inside it."""
    found = value_problem(record)
    if found is None:
        return None
    where, problem = found
    field, _, inner = where.partition(".")
    return (field or None), (f"{inner}: {problem}" if inner else problem)


def require_storable(value: object, *, field: str) -> None:
    """Raise a ValidationError naming `field` (and where inside it) if `value` cannot be stored."""
    found = value_problem(value)
    if found:
        where, problem = found
        raise ValidationError(f"{where}: {problem}" if where else problem, field=field)
