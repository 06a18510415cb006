"""medray checkpoint files: one ``torch.save``d dict that carries everything needed to rebuild the model.

    {"format": "medray-checkpoint", "version": 1, "kind": <a medray.tasks.KINDS name>,
     "config": {...generator config as a plain dict...}, "state_dict": {...}, "metrics": {...}, **extra}

Contents are restricted to tensors and plain Python (dict/list/tuple/str/int/float/bool/None) so the file
loads with ``torch.load(weights_only=True)`` — no pickled classes, nothing executes on load. A checkpoint
path is either the ``.pt`` file or a folder holding ``medray.pt`` (what Ray Train checkpoints contain).
This file knows the format, not the kinds: ``medray.tasks.load`` rebuilds a model from a checkpoint.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

import dataclasses

from medray.config import ConfigError, InputError, to_dict

FORMAT = "medray-checkpoint"
VERSION = 1
FILENAME = "medray.pt"
RESERVED = ("format", "version", "kind", "config", "state_dict", "metrics")


class CheckpointError(InputError):
    """A path that is not a (readable, supported) medray checkpoint. ``reason`` says why."""


def resolve_path(path: str | os.PathLike) -> Path:
    """``.pt`` file as is; a folder → ``folder/medray.pt``."""
    p = Path(path)
    return p / FILENAME if p.is_dir() else p


def _check_plain(value: Any, where: str) -> None:
    """Refuse anything ``weights_only`` loading would reject, naming where it is."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise ConfigError(f"checkpoint {where}: key {k!r} must be str or int")
            _check_plain(v, f"{where}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise ConfigError(f"checkpoint {where}: {type(value).__name__} is not storable; use tensors and plain Python "
                      "(convert dataclasses with medray.config.to_dict)")


def save_checkpoint(path: str | os.PathLike, *, kind: str, config: Any, state_dict: Mapping[str, torch.Tensor],
                    metrics: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint (atomically: temp file + rename) and return the file path.

    ``config`` is the generator's config dataclass (or its dict); ``path`` may be a folder (created,
    file ``medray.pt`` inside) or a file path. ``extra`` keys (discriminator, optimizers, epoch, ...)
    are stored at top level next to the reserved ones.
    """
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"kind={kind!r} must be a model kind name (medray.tasks.KINDS)")
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": to_dict(config) if dataclasses.is_dataclass(config) else dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "metrics": dict(metrics or {}),
    }
    for k, v in (extra or {}).items():
        if k in RESERVED:
            raise ConfigError(f"extra key {k!r} clashes with a reserved checkpoint key; reserved are {list(RESERVED)}")
        ckpt[k] = v
    _check_plain(ckpt, "checkpoint")
    p = Path(path)
    if p.suffix != ".pt":  # a folder (Ray Train checkpoint dir)
        p.mkdir(parents=True, exist_ok=True)
        p = p / FILENAME
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, p)
    return p


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; ``CheckpointError`` (reason not_found / not_medray_checkpoint /
    unsupported_version) if it is not one this medray can use; the kind is checked by ``medray.tasks.load``."""
    p = resolve_path(path)
    if not p.is_file():
        raise CheckpointError("not_found", f"{str(path)!r}: no such file (and no folder holding {FILENAME})")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle, zip or weights_only errors all mean: not ours
        raise CheckpointError("not_medray_checkpoint", f"{str(p)!r} is not a loadable torch file: {type(e).__name__}: {e}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError("not_medray_checkpoint", f"{str(p)!r} has no format={FORMAT!r} marker")
    if ckpt.get("version") != VERSION:
        raise CheckpointError("unsupported_version", f"{str(p)!r} has version {ckpt.get('version')!r}; this medray reads {VERSION}")
    if not isinstance(ckpt.get("kind"), str):
        raise CheckpointError("not_medray_checkpoint", f"{str(p)!r} has no model kind")
    for key in ("config", "state_dict"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError("not_medray_checkpoint", f"{str(p)!r} lacks a {key!r} mapping")
    return ckpt


__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "resolve_path", "FORMAT", "VERSION", "FILENAME"]
