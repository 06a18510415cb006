"""Pixel losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def l1_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (robust to the outliers MSE over-punishes, and sharper results)."""
    return F.l1_loss(x, y)
