"""Errors a user can act on: each says what is wrong and where."""

from __future__ import annotations


class ValidationError(ValueError):
    """Bad input to a service: `field` names what was wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message
