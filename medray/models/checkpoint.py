"""medray checkpoint files: one ``torch.save``d dict that carries everything needed to rebuild the model.

    {"format": "medray-checkpoint", "version": 1, "kind": "iotgan" | "pixmed",
     "config": {...generator config as a plain dict...}, "state_dict": {...}, "metrics": {...}, **extra}

Contents are restricted to tensors and plain Python (dict/list/tuple/str/int/float/bool/None) so the file
loads with ``torch.load(weights_only=True)`` — no pickled classes, nothing executes on load. A checkpoint
path is either the ``.pt`` file or a folder holding ``medray.pt`` (what Ray Train checkpoints contain).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from medray.config import ConfigError, InputError, check_choice, from_dict, to_dict
from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.models.sr_generator import SRGeneratorConfig, build_generator

FORMAT = "medray-checkpoint"
VERSION = 1
FILENAME = "medray.pt"
KINDS = {"iotgan": SRGeneratorConfig, "pixmed": CGANConfig}
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
    check_choice("kind", kind, list(KINDS))
    cfg_cls = KINDS[kind]
    cfg = config if isinstance(config, cfg_cls) else from_dict(cfg_cls, dict(config), where="config")
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": to_dict(cfg),
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
    unsupported_version / unknown_kind) if it is not one this medray can use."""
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
    if ckpt.get("kind") not in KINDS:
        raise CheckpointError("unknown_kind", f"kind={ckpt.get('kind')!r}; valid kinds are {list(KINDS)}")
    for key in ("config", "state_dict"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError("not_medray_checkpoint", f"{str(p)!r} lacks a {key!r} mapping")
    return ckpt


def config_from_checkpoint(ckpt: Mapping[str, Any]):
    """The generator config dataclass stored in a loaded checkpoint."""
    return from_dict(KINDS[ckpt["kind"]], ckpt["config"], where="checkpoint config")


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """Rebuild the generator from the checkpoint alone → ``(model.eval(), config, ckpt_dict)``."""
    ckpt = load_checkpoint(path, map_location)
    cfg = config_from_checkpoint(ckpt)
    model = build_generator(cfg) if ckpt["kind"] == "iotgan" else build_cgan_generator(cfg)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError("state_dict_mismatch", f"weights do not fit the stored {type(cfg).__name__}: {e}") from e
    model.to(map_location)
    return model.eval(), cfg, ckpt


__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "load_generator", "config_from_checkpoint",
           "resolve_path", "FORMAT", "VERSION", "FILENAME", "KINDS"]

