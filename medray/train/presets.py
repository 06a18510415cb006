"""``medray train --preset paper|fast``: named recipes, each a dataclass of TrainConfig values.

Precedence: preset < YAML (``--config``) < explicit flags. Every difference between the two, and between ``fast``
and paper A, is listed in docs/models.md ("Training recipes"). ``paper`` is paper A's stated setting (whole 256²
slices so the global discriminator head sees a whole slice, Adam 2e-4, batch 32, 500 epochs, early stopping
patience 20, reduce-on-plateau learning rate, VGG19 perceptual loss when weights are given); ``fast`` is the CPU
recipe the shipped weights were trained with (64² crops, a pixel-loss phase then GAN fine-tuning at a small
adversarial weight, EMA of G, single-channel slices).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

from medray.config import ConfigError


@dataclass(frozen=True)
class Recipe:
    patch: int
    batch_size: int
    max_epochs: int
    lr: float
    patience: int
    warmup_epochs: int  # phase 1 (pixel loss: L1 + SSIM) before GAN fine-tuning
    ema_decay: float
    lr_patience: int
    lr_factor: float
    w_adv: float
    num_workers: int | None = None  # None: TrainConfig's default
    n_channels: int | None = None
    channels_as_samples: bool | None = None
    val_max_slices: int | None = None
    perceptual: str | None = None  # None: vgg19 when MEDRAY_VGG19_WEIGHTS is set, else none

    def overrides(self) -> dict:
        """TrainConfig keys (the ``loss`` section included) this recipe sets."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("w_adv", "perceptual") and getattr(self, f.name) is not None}
        perc = self.perceptual or ("vgg19" if os.environ.get("MEDRAY_VGG19_WEIGHTS") else "none")
        out["loss"] = {"w_adv": self.w_adv, "perceptual": perc}
        return out


PRESETS: dict[str, Recipe] = {
    # paper A: no pixel-loss phase and no EMA (neither is in the paper); plateau patience is not stated there
    "paper": Recipe(patch=256, batch_size=32, max_epochs=500, lr=2e-4, patience=20, warmup_epochs=0, ema_decay=0.0,
                    lr_patience=10, lr_factor=0.5, w_adv=1e-3),
    # the CPU recipe of the shipped weights (medray/weights/*.PROVENANCE.json records each run's exact config)
    "fast": Recipe(patch=64, batch_size=16, max_epochs=100_000, lr=2e-4, patience=40, warmup_epochs=20,
                   ema_decay=0.999, lr_patience=8, lr_factor=0.5, w_adv=1e-3, num_workers=1, n_channels=1,
                   channels_as_samples=True, val_max_slices=32, perceptual="none"),
}


def preset(name: str, kind: str | None = None):
    """The recipe ``name`` of model ``kind``: a kind with its own presets (tasks: PixMed's) uses those."""
    table = PRESETS
    if kind is not None:
        from medray import tasks

        table = tasks.get(kind).presets or PRESETS
    if name not in table:
        raise ConfigError(f"preset={name!r} is not a recipe; valid: {sorted(table)}")
    return table[name]


def merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``; the ``loss``/``generator``/``discriminator`` sections merge key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
