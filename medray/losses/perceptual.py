"""VGG19 perceptual loss with the feature extractor defined here (no torchvision dependency).

``VGG19Features`` reproduces torchvision's ``vgg19().features`` module for module, so index N here is
index N there and a torchvision state dict (keys ``features.N.weight`` / ``features.N.bias``; the
``classifier.*`` keys are ignored) loads unchanged. Only the layers up to the deepest requested one are
built. Inputs in [0,1] with 1 or 4 channels are mapped to 3 channels (grayscale replicated; each of 4
MRI channels is scored separately as grayscale and averaged) and ImageNet-normalised.

Weights come from ``vgg19_weights`` (config) or the env var ``MEDRAY_VGG19_WEIGHTS``; nothing is
downloaded. The network is frozen and kept in eval mode.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from medray.config import ConfigError

ENV_WEIGHTS = "MEDRAY_VGG19_WEIGHTS"
# torchvision cfg "E": conv widths, "M" = 2×2 max-pool
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> dict[str, int]:
    """'relu3_4' → index in ``features`` (also conv*_* and pool*)."""
    names, block, conv, idx = {}, 1, 0, 0
    for v in _CFG:
        if v == "M":
            names[f"pool{block}"] = idx
            idx, block, conv = idx + 1, block + 1, 0
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = idx
            names[f"relu{block}_{conv}"] = idx + 1
            idx += 2
    return names


LAYERS = _layer_names()
DEFAULT_LAYERS = ("relu2_2", "relu3_4", "relu5_4")


class VGG19Features(nn.Sequential):
    """torchvision's ``vgg19().features[: upto + 1]`` with identical indices."""

    def __init__(self, upto: int = 36):  # 36 = pool5, the whole 37-module stack
        layers: list[nn.Module] = []
        cin = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        super().__init__(*layers[: upto + 1])


def resolve_weights(path: str | os.PathLike | None) -> Path:
    """Config path, else $MEDRAY_VGG19_WEIGHTS; a ConfigError naming the setting if neither is a file."""
    p = path or os.environ.get(ENV_WEIGHTS)
    if not p:
        raise ConfigError(
            f"perceptual='vgg19' needs VGG19 weights: set vgg19_weights (or env {ENV_WEIGHTS}) to a torchvision-format "
            "vgg19 state-dict file, or set perceptual: none to train without the perceptual term"
        )
    if not Path(p).is_file():
        raise ConfigError(f"vgg19_weights={str(p)!r} is not a file; give a torchvision vgg19 state dict or set perceptual: none")
    return Path(p)


class PerceptualLoss(nn.Module):
    """Σ_layers mean |φ_l(sr) − φ_l(hr)| over the chosen VGG19 layers (equal weights)."""

    def __init__(self, weights: str | os.PathLike | None = None, layers: Sequence[str] = DEFAULT_LAYERS):
        super().__init__()
        unknown = [name for name in layers if name not in LAYERS]
        if not layers or unknown:
            raise ConfigError(f"perceptual_layers={list(layers)!r} is not valid; choose from {sorted(LAYERS)}")
        self.layers = tuple(layers)
        self.indices = sorted(LAYERS[n] for n in self.layers)
        self.features = VGG19Features(upto=self.indices[-1])
        self._load(resolve_weights(weights))
        self.features.requires_grad_(False)
        self.features.eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _load(self, path: Path) -> None:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ConfigError(f"vgg19_weights={str(path)!r} is not a loadable torch state dict: {e}") from e
        if not isinstance(sd, dict):
            raise ConfigError(f"vgg19_weights={str(path)!r} does not hold a state dict")
        own = self.features.state_dict()
        wanted = {k: sd.get(f"features.{k}") for k in own}
        missing = [f"features.{k}" for k, v in wanted.items() if v is None]
        if missing:
            raise ConfigError(f"vgg19_weights={str(path)!r} is not a torchvision vgg19 state dict: missing {missing[:4]}")
        self.features.load_state_dict(wanted)

    def train(self, mode: bool = True):  # the VGG stays in eval whatever the trainer does
        super().train(mode)
        self.features.eval()
        return self

    def _embed(self, x: torch.Tensor) -> list[torch.Tensor]:
        b, c, h, w = x.shape
        x = x.reshape(b * c, 1, h, w).expand(-1, 3, -1, -1)  # every channel as a grayscale image
        x = (x - self.mean) / self.std
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.indices:
                feats.append(x)
        return feats

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self._embed(hr)
        return sum(F.l1_loss(a, t) for a, t in zip(self._embed(sr), target))
