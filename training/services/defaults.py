"""Hyperparameters per run kind: the engine's config dataclass for the kind, with overrides.

The engine documents every field (training/engine/config.py, metadata["help"]) and checks names
and types; a run records every value it will use, defaults included, so its page shows them all.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from annotate.errors import ValidationError
from training.engine.config import config_class, config_for
from training.engine.jobs import EngineError


def hyperparameters_for(kind: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field of the kind's engine config, `overrides` applied and checked."""
    if overrides is not None and not isinstance(overrides, dict):
        raise ValidationError("must be an object of {name: value}", field="hyperparameters")
    try:
        config_class(kind)
    except EngineError as exc:
        raise ValidationError(str(exc), field="kind") from None
    try:
        merged = dataclasses.asdict(config_for(kind, overrides or {}))
    except EngineError as exc:
        raise ValidationError(str(exc), field="hyperparameters") from None
    fraction = merged.get("eval_fraction", 0.0)
    if not 0.0 <= fraction < 1.0:
        raise ValidationError(
            f"eval_fraction must be in [0, 1), got {fraction!r}", field="hyperparameters"
        )
    return merged


def hyperparameter_help(kind: str) -> list[dict[str, Any]]:
    """Name, type, default and help of every hyperparameter of a kind (empty if unknown), from
    the engine config's fields and their metadata["help"]."""
    try:
        cls = config_class(kind)
    except EngineError:
        return []
    hints = typing.get_type_hints(cls)
    default = cls()
    return [
        {
            "name": f.name,
            "type": type_name(hints[f.name]),
            "default": getattr(default, f.name),
            "help": f.metadata.get("help", ""),
        }
        for f in dataclasses.fields(cls)
    ]


def type_name(hint: Any) -> str:
    """ "float", "int or null", "str or list[str]"...: enough to pick a form field."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is typing.Literal:
        return " | ".join(repr(v) for v in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return f"list[{type_name(typing.get_args(hint)[0])}]"
    return getattr(hint, "__name__", str(hint))
