"""Shipped model weights: ``<kind>_x<scale>.pt`` medray checkpoints (synthesis kinds, which have no scale:
``<kind>.pt``), each with ``<file>.PROVENANCE.json`` (the
command, data sources, commit, wall time, hardware and measured metrics of the run that made it).

``medray serve``, ``medray eval`` and the viewer fall back to ``default_checkpoint`` when no checkpoint is given,
so a fresh clone enhances images without training first. The weights are EMA generator weights stored in fp16
(``export.py``); ``medray.tasks.load`` casts them back to the model's fp32 on load.
"""
from __future__ import annotations

import json
from pathlib import Path

from medray.config import ConfigError
from medray.tasks import DEFAULT_KIND  # the kind served by default per family: tasks/ owns the kinds

WEIGHTS_DIR = Path(__file__).resolve().parent
UNSCALED = ("synth",)  # families whose weights have no scale in their name


def weights_file(kind: str, scale: int | None) -> Path:
    return WEIGHTS_DIR / (f"{kind}.pt" if scale is None else f"{kind}_x{scale}.pt")


def default_checkpoint(family: str = "sr", scale: int = 2, kind: str | None = None) -> Path | None:
    """The shipped checkpoint for ``family`` at ``scale`` (``kind`` defaults to the family's default kind), or
    None when this install ships none (the caller then says a checkpoint is needed)."""
    if family not in DEFAULT_KIND:
        raise ConfigError(f"family={family!r} has no shipped weights; valid: {sorted(DEFAULT_KIND)}")
    p = weights_file(kind or DEFAULT_KIND[family], None if family in UNSCALED else scale)
    return p if p.is_file() else None


def provenance_file(weights: Path) -> Path:
    return weights.with_name(weights.name + ".PROVENANCE.json")


def provenance(weights: Path) -> dict:
    """The PROVENANCE.json beside a shipped weights file ({} when absent)."""
    p = provenance_file(Path(weights))
    return json.loads(p.read_text()) if p.is_file() else {}


def shipped() -> list[Path]:
    return sorted(WEIGHTS_DIR.glob("*.pt"))


def checkpoint_or_default(checkpoint, family: str = "sr", scale: int = 2) -> str | None:
    """``checkpoint`` as given when set, else the shipped default for ``family``/``scale`` (None when none ships)."""
    if checkpoint:
        return str(checkpoint)
    p = default_checkpoint(family, scale)
    return str(p) if p is not None else None
