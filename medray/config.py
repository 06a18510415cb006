"""Shared option handling: typed errors and validation at the edge.

Every option a user can set is validated where it enters (CLI flag, YAML file, HTTP query) and a bad value
raises ``ConfigError`` naming the option, the bad value and the valid ones. Bad *data* (a corrupt scan, an
undecodable body) raises ``InputError`` with a short machine-readable ``reason`` code.
"""
from __future__ import annotations

import dataclasses
import enum
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import yaml

T = TypeVar("T")


class MedrayError(Exception):
    """Base class of medray's own errors."""


class ConfigError(MedrayError, ValueError):
    """An option has a bad value; the message names it and the valid values."""


class InputError(MedrayError):
    """Input data was refused. ``reason`` is a stable short code (e.g. ``truncated``, ``not_image``)."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def check_choice(name: str, value: Any, valid: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``valid``; else raise ConfigError naming both."""
    valid = list(valid)
    if value not in valid:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {valid}")
    return value


def check_range(name: str, value: float, lo: float | None = None, hi: float | None = None) -> float:
    """Return ``value`` if lo <= value <= hi (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}={value!r} must be a number")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name}={value!r} is out of range [{lo}, {hi}]")
    return value


def parse_enum(enum_cls: type[enum.Enum], name: str, value: Any) -> enum.Enum:
    """Parse a str/enum into ``enum_cls`` with an error listing the valid values."""
    if isinstance(value, enum_cls):
        return value
    for member in enum_cls:
        if value == member.value or value == member.name:
            return member
    raise ConfigError(f"{name}={value!r} is not valid; choose one of {[m.value for m in enum_cls]}")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys by name.

    Nested dataclass fields are built recursively; tuples are converted from lists. The dataclass's own
    ``__post_init__`` does the value validation.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}unknown key(s) {unknown} for {cls.__name__}; valid keys are {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        hint = hints.get(key)
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            value = from_dict(hint, value, where=f"{where}.{key}" if where else key)
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """Dataclass → plain dict (enums as their values), safe for JSON/YAML and checkpoints."""

    def conv(v: Any) -> Any:
        if isinstance(v, enum.Enum):
            return v.value
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return conv(obj)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping document is a ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping at top level, got {type(data).__name__}")
    return data
