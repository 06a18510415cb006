"""Vitals → α, and the vitals-adaptive block ``Y = X + α · F(X)`` (paper A).

Vitals arrive in RAW units in the order of ``VITALS_ORDER`` (heart rate bpm, SpO2 %, temperature °C,
mobility 0..1) and are normalised here with fixed, documented constants (resting-adult reference
values), so callers never need to know them and a checkpoint means the same thing everywhere:

    z = (raw − VITALS_CENTER) / VITALS_SCALE, clipped to ±VITALS_CLIP

α = α_max · σ(MLP(z)) is bounded in (0, α_max) and computed per sample. A row with any NaN counts as
"vitals absent" and gets ``alpha_default`` instead; the generator records where α came from.
"""
from __future__ import annotations

import torch
from torch import nn

from medray.vitals.fields import VITALS_FIELDS as VITALS_ORDER  # the one list (a leaf: imports only config)
# centre ≈ resting-adult normal, scale ≈ the spread that still counts as plausible
VITALS_CENTER = (75.0, 97.0, 37.0, 0.5)
VITALS_SCALE = (15.0, 3.0, 0.7, 0.3)
VITALS_CLIP = 5.0  # z beyond ±5 (e.g. a sensor glitch) must not blow up α's MLP


def normalise_vitals(raw: torch.Tensor) -> torch.Tensor:
    """[B,4] raw units → [B,4] z-scores (NaN rows stay NaN)."""
    center = raw.new_tensor(VITALS_CENTER)
    scale = raw.new_tensor(VITALS_SCALE)
    return ((raw - center) / scale).clamp(-VITALS_CLIP, VITALS_CLIP)


class AlphaNet(nn.Module):
    """Small MLP: normalised vitals [B,4] → α [B] in (0, alpha_max)."""

    def __init__(self, alpha_max: float = 1.0, hidden: int = 16):
        super().__init__()
        self.alpha_max = float(alpha_max)
        self.mlp = nn.Sequential(nn.Linear(len(VITALS_ORDER), hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, raw_vitals: torch.Tensor) -> torch.Tensor:
        return self.alpha_max * torch.sigmoid(self.mlp(normalise_vitals(raw_vitals))).squeeze(-1)


class VitalsAdaptiveBlock(nn.Module):
    """``Y = X + α · F(X)`` with per-sample α [B]; α = 0 is exactly the identity."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(width, width, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return x + alpha.to(x.dtype).view(-1, 1, 1, 1) * self.body(x)
