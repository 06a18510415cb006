"""Load the generator a deployment serves, and refuse to serve random weights by accident.

No checkpoint → a ConfigError that says how to give one; only ``allow_untrained=True`` (a development flag,
documented as such) builds a seeded, untrained model, and then /v1/models and X-Medray-Model say so."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from medray import tasks
from medray.config import ConfigError, to_dict
from medray.models.checkpoint import resolve_path

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    model: torch.nn.Module
    config: Any
    kind: str  # the checkpoint's model kind (medray.tasks.KINDS)
    version: str  # "<kind>:<sha256 prefix of the checkpoint file>" or "<kind>:untrained-dev"
    untrained: bool
    metrics: dict

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def info(self) -> dict:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"kind": self.kind, "version": self.version, "untrained": self.untrained,
                "config": to_dict(self.config), "metrics": self.metrics, "parameters": n_params,
                "device": str(self.device)}


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def check_checkpoint_setting(checkpoint: str | None, allow_untrained: bool, family: str) -> None:
    """Driver-side check, so `medray serve` fails fast instead of after Serve retries replica start-up."""
    if checkpoint:
        if not resolve_path(checkpoint).is_file():
            raise ConfigError(f"{family} checkpoint {checkpoint!r} does not exist (give a .pt file or a folder holding medray.pt)")
    elif not allow_untrained:
        raise ConfigError(
            f"no {family} checkpoint configured: pass --checkpoint or set the checkpoint in the Serve YAML "
            f"(train one with `medray train --model KIND ...`, KIND one of {tasks.kinds(family)}); for a development "
            f"run with random, untrained weights set allow_untrained: true (its outputs are meaningless)")


def load_served_model(checkpoint: str | None, family: str, allow_untrained: bool) -> ServedModel:
    """The model a deployment of ``family`` ("sr" / "synth") serves: from the checkpoint (any kind of that
    family), or with ``allow_untrained`` the family's default kind with random weights."""
    check_checkpoint_setting(checkpoint, allow_untrained, family)
    # A replica given num_gpus > 0 sees its GPU; with num_gpus 0 Ray hides every GPU, so this is "cpu".
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if checkpoint:
        loaded = tasks.load(checkpoint, map_location=device, family=family)
        kind = loaded.task.name
        version = f"{kind}:{_file_digest(resolve_path(checkpoint))}"
        return ServedModel(loaded.model, loaded.config, kind, version, False, dict(loaded.ckpt.get("metrics") or {}))
    kind = tasks.DEFAULT_KIND[family]
    log.warning("serving an UNTRAINED %s model (allow_untrained=true): outputs are meaningless", kind)
    model, cfg = tasks.get(kind).untrained()
    return ServedModel(model.to(device).eval(), cfg, kind, f"{kind}:untrained-dev", True, {})
