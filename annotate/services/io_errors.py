"""What to tell a user when a file cannot be read or written for reasons no field explains."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def too_deep(name: str) -> str:
    """A file whose JSON nests deeper than Python's parser recurses (about 1000 levels)."""
    return f"{name}: JSON nested too deeply to read; nothing was imported"


def storage_problem(exc: OSError) -> str:
    """What an operator must fix when a snapshot cannot be written (read-only or full disk)."""
    where = exc.filename or (Path(settings.DATA_DIR) / "snapshots")
    return (
        f"the snapshot could not be written to {where}: {exc.strerror or exc}; nothing was "
        "exported (the data directory, PS_DATA_DIR, must be writable and have room)"
    )
