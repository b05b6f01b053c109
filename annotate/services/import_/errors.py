"""What goes wrong in an import, and where: file-level errors and row-level ones."""

from __future__ import annotations


class ImportFileError(Exception):
    """Why a file was refused, and where: str() is "<file>:<line>: <field>: <message>"."""

    def __init__(
        self, file: str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class RowError(Exception):
    """A bad row; the caller adds file and line."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def type_name(value: object) -> str:
    """A JSON value's type as a user would name it: "an object", "a number", "null"."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
