"""Which weights a pipeline runs and loading them once: the checkpoint asked for, else the shipped reference
weights (``medray.weights``), else a ConfigError that names the option to pass (``--checkpoint`` on the command
line, ``checkpoint=`` in the Python API)."""
from __future__ import annotations

import functools
from pathlib import Path

from medray.config import ConfigError


def shipped_checkpoint(family: str, scale: int = 2) -> Path | None:
    """The shipped checkpoint of ``family`` at ``scale``, or None when this install ships none."""
    try:
        from medray.weights import default_checkpoint
    except ImportError:  # an install without the weights package
        return None
    try:
        return default_checkpoint(family, scale)
    except ConfigError:  # no weights ship for this family
        return None


def resolve_checkpoint(checkpoint: str | Path | None, family: str, scale: int = 2,
                       option: str = "--checkpoint") -> str:
    if checkpoint:
        return str(checkpoint)
    found = shipped_checkpoint(family, scale)
    if found is None:
        raise ConfigError(f"no {family} checkpoint: this install ships no {family} weights (×{scale}) in "
                          f"medray/weights/; pass {option} (a .pt file or a checkpoint folder from `medray train`)")
    return str(found)


@functools.lru_cache(maxsize=4)
def load_model(checkpoint: str, family: str):
    """``(model in eval mode, its tasks.load result)`` on the GPU when there is one; cached per checkpoint."""
    import torch

    from medray import tasks

    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = tasks.load(checkpoint, map_location=device, family=family)
    return loaded.model.eval(), loaded
