"""What every model kind provides, so training, tuning, evaluation and serving never branch on a kind.

A kind is one ``Task`` object in ``medray.tasks.KINDS`` (a plain dict). Its ``family`` says which pipeline
and which Serve deployment run it: "sr" (medray/pipelines/enhance.py) or "synth" (pipelines/synthesize.py).
Adding a model is one model file plus one dict entry in tasks/sr.py or tasks/synth.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from medray.config import from_dict, to_dict


@dataclass
class Parts:
    """What one training run builds for a kind: nets, their stored configs and the generator loss."""

    G: nn.Module
    D: nn.Module | None  # None: a kind trained without a discriminator
    g_config: dict  # saved in the checkpoint, so load() needs nothing else
    d_config: dict | None
    loss: Any  # an nn.Module (SR composite loss) or a loss config (PixMed)
    adv_mode: Any
    kind: str


@dataclass(frozen=True)
class Task:
    """The common half of a kind. Family subclasses (SRTask, SynthTask) add the step, forward and outputs."""

    name: str
    generator: type  # the generator's config dataclass
    build_generator: Callable[[Any], nn.Module]
    loss: type  # the loss config dataclass
    discriminator: type | None = None  # the discriminator's config dataclass, or None
    build_discriminator: Callable[[Any], nn.Module] | None = None
    loss_defaults: dict | None = None  # applied under the run's own loss section (e.g. perceptual off)
    generator_defaults: dict | None = None
    description: str = ""
    family: str = ""
    # `medray train --preset NAME` → TrainConfig overrides; empty: the SR recipes of medray/train/presets.py
    presets: dict | None = None

    # -- configs ----------------------------------------------------------------------------------
    def sections(self) -> dict[str, type | None]:
        """TrainConfig sections and the dataclass that owns each one's keys (None: unused by this kind)."""
        return {"generator": self.generator, "discriminator": self.discriminator, "loss": self.loss}

    def section_defaults(self) -> dict[str, dict]:
        return {"generator": dict(self.generator_defaults or {}), "loss": dict(self.loss_defaults or {})}

    def generator_config(self, cfg) -> Any:
        """The generator config of a training run (family subclasses fill in channels/scale)."""
        raise NotImplementedError

    def loss_config(self, cfg) -> Any:
        return from_dict(self.loss, {**(self.loss_defaults or {}), **cfg.loss}, where="loss")

    def build_loss(self, loss_cfg) -> Any:
        return loss_cfg

    def build(self, cfg) -> Parts:
        """G and D on CPU with weights seeded by cfg.seed (every worker builds the same init)."""
        torch.manual_seed(cfg.seed)
        g_cfg = self.generator_config(cfg)
        G = self.build_generator(g_cfg)
        D, d_cfg = None, None
        if self.discriminator is not None:
            d_cfg = self.discriminator_config(cfg, g_cfg)
            D = self.build_discriminator(d_cfg)
        loss_cfg = self.loss_config(cfg)
        return Parts(G, D, to_dict(g_cfg), None if d_cfg is None else to_dict(d_cfg), self.build_loss(loss_cfg),
                     getattr(loss_cfg, "adv_mode", None), self.name)

    def discriminator_config(self, cfg, g_cfg) -> Any:
        return from_dict(self.discriminator, dict(cfg.discriminator), where="discriminator")

    def config_from_dict(self, data: dict) -> Any:
        return from_dict(self.generator, data, where=f"{self.name} checkpoint config")

    def untrained(self) -> tuple[nn.Module, Any]:
        """A seeded model with default config: only for development serving (allow_untrained)."""
        torch.manual_seed(0)
        cfg = self.generator(**(self.generator_defaults or {}))
        return self.build_generator(cfg), cfg


def unet_downs(patch: int) -> int:
    """A U-Net with n downsamplings needs inputs that are multiples of 2^n: fit the default to the crop."""
    return min(8, int(math.log2(patch & -patch)))
