"""SSIM loss = 1 − SSIM, built on the metric (``medray.metrics.ssim_batch``: 11-tap Gaussian window, σ = 1.5,
'valid' window, equal to scikit-image's SSIM), so training optimises exactly what evaluation reports.
A 32×32 crop gives a 22×22 SSIM map; channels are treated independently and averaged."""
from __future__ import annotations

import torch

from medray.metrics import ssim_batch


def ssim_loss(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """1 − mean SSIM over the batch (0 for identical images); differentiable in ``x``."""
    return 1.0 - ssim_batch(x, y, data_range).mean()
