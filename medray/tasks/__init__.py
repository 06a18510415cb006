"""The model kinds. ``KINDS`` is a plain dict, name → Task; nothing outside this package (and medray/models)
branches on a kind. ``load`` rebuilds any kind's generator from its checkpoint alone."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from medray.config import ConfigError, check_choice
from medray.models.checkpoint import CheckpointError, load_checkpoint
from medray.tasks.base import Parts, Task
from medray.tasks.sr import SR_KINDS
from medray.tasks.synth import SYNTH_KINDS

KINDS: dict[str, Task] = {**SR_KINDS, **SYNTH_KINDS}
FAMILIES = ("sr", "synth")
DEFAULT_KIND = {"sr": "iotgan", "synth": "pixmed"}  # what the demo trains and `medray serve` ships


def get(kind: str) -> Task:
    """The Task of ``kind``; ConfigError naming the valid kinds otherwise."""
    check_choice("model", kind, list(KINDS))
    return KINDS[kind]


def kinds(family: str | None = None) -> list[str]:
    if family is not None:
        check_choice("family", family, FAMILIES)
    return [k for k, t in KINDS.items() if family is None or t.family == family]


@dataclass
class Loaded:
    model: torch.nn.Module  # in eval mode, on map_location
    config: Any  # the generator's config dataclass
    ckpt: dict  # the whole checkpoint dict (metrics, train_config, history …)
    task: Task


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu", family: str | None = None) -> Loaded:
    """Rebuild the generator stored at ``path`` (a .pt file or a folder holding medray.pt).

    ``family`` ("sr"/"synth") refuses a checkpoint of the other family with a ConfigError that says so."""
    ckpt = load_checkpoint(path, map_location)
    if ckpt["kind"] not in KINDS:
        raise CheckpointError("unknown_kind", f"kind={ckpt['kind']!r}; valid kinds are {list(KINDS)}")
    task = KINDS[ckpt["kind"]]
    if family is not None and task.family != family:
        raise ConfigError(f"checkpoint {str(path)!r} holds a {task.name!r} ({task.family}) model; this needs "
                          f"one of {kinds(family)}")
    cfg = task.config_from_dict(ckpt["config"])
    model = task.build_generator(cfg)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError("state_dict_mismatch", f"weights do not fit the stored {type(cfg).__name__}: {e}") from e
    return Loaded(model.to(map_location).eval(), cfg, ckpt, task)


__all__ = ["KINDS", "FAMILIES", "DEFAULT_KIND", "Task", "Parts", "Loaded", "get", "kinds", "load"]
