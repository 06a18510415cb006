"""Small validators shared by the model configs (on top of ``medray.config``): ints and bools that
refuse look-alikes (True is not 1, 2.0 is not 2) with a message naming the value and what is valid."""
from __future__ import annotations

from medray.config import ConfigError, check_range


def check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}={value!r} must be an integer in [{lo}, {hi}]")
    return int(check_range(name, value, lo, hi))


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is not valid; choose one of [True, False]")
    return value
