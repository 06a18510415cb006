"""Differentiable SSIM (Wang et al. 2004) with an 11-tap Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03.

Statistics are computed with a 'valid' depthwise convolution (no padding), so the mean SSIM equals
``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=...)``, which also drops the border where the window does not
fit. A 32×32 crop gives a 22×22 SSIM map. Channels are treated independently and averaged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

WIN = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size: int = WIN, sigma: float = SIGMA, dtype=torch.float32, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """[B,C,H,W] pair → SSIM map [B,C,H−10,W−10]. H and W must be ≥ 11."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim needs two [B,C,H,W] tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < WIN:
        raise ValueError(f"ssim needs H,W ≥ {WIN}, got {tuple(x.shape[-2:])}")
    c = x.shape[1]
    g = gaussian_window(dtype=x.dtype, device=x.device)
    gh = g.view(1, 1, 1, WIN).expand(c, 1, 1, WIN)
    gv = g.view(1, 1, WIN, 1).expand(c, 1, WIN, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable Gaussian, valid region only
        return F.conv2d(F.conv2d(t, gh, groups=c), gv, groups=c)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-sample mean SSIM [B]."""
    return ssim_map(x, y, data_range).mean(dim=(1, 2, 3))


def ssim_loss(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """1 − mean SSIM over the batch (0 for identical images)."""
    return 1.0 - ssim(x, y, data_range).mean()
