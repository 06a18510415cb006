"""Image-quality metrics as pure functions with an explicit ``data_range`` (MONAI/skimage habit).

numpy versions take one image, [H,W] or channel-first [C,H,W] (channel results are averaged):

- ``psnr``: 10·log10(data_range² / MSE); +inf for identical images.
- ``ssim``: Wang et al. 2004, Gaussian window σ = 1.5 (11 taps), K1 = 0.01, K2 = 0.03, population
  covariances, border of 5 px excluded — equal to ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
- ``ncc``: zero-mean normalised cross-correlation in [−1, 1]; for a constant image (undefined) it is
  1.0 if both images are identical, else 0.0.
- ``mutual_information``: from the joint histogram with ``bins`` (default 64) equal bins over
  [0, data_range] per image, in bits; values outside the range fall in the edge bins.
- ``spatial_frequency``: SF = sqrt(RF² + CF²), RF² / CF² = mean squared horizontal / vertical
  neighbour difference of image/data_range (means over the M·(N−1) and (M−1)·N available pairs).
- ``mean_gradient``: MG = mean over (M−1)·(N−1) pixels of sqrt((Δx² + Δy²) / 2) with forward
  differences of image/data_range.

torch versions ``psnr_batch`` / ``ssim_batch`` take [B,C,H,W] and return one value per sample [B].
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import correlate1d

from medray.losses.ssim import K1, K2, SIGMA, WIN, gaussian_window
from medray.losses.ssim import ssim as _ssim_torch

MI_BINS = 64


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {x.shape} vs {y.shape}")
    return x, y


def _planes(x: np.ndarray) -> np.ndarray:
    """[H,W] or [C,H,W] → [C,H,W]."""
    if x.ndim == 2:
        return x[None]
    if x.ndim == 3:
        return x
    raise ValueError(f"expected an [H,W] or [C,H,W] image, got shape {x.shape}")


def _check_range(data_range: float) -> float:
    if not data_range or data_range <= 0:
        raise ValueError(f"data_range={data_range!r} must be > 0")
    return float(data_range)


def psnr(x, y, data_range: float) -> float:
    x, y = _pair(x, y)
    dr = _check_range(data_range)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(dr * dr / mse))


def ssim(x, y, data_range: float) -> float:
    x, y = _pair(x, y)
    dr = _check_range(data_range)
    g = gaussian_window(WIN, SIGMA, dtype=torch.float64).numpy()
    pad = (WIN - 1) // 2
    vals = []
    for a, b in zip(_planes(x), _planes(y)):
        if min(a.shape) < WIN:
            raise ValueError(f"ssim needs H,W ≥ {WIN}, got {a.shape}")

        def blur(t):
            return correlate1d(correlate1d(t, g, axis=0, mode="reflect"), g, axis=1, mode="reflect")

        mx, my = blur(a), blur(b)
        vx, vy, cxy = blur(a * a) - mx * mx, blur(b * b) - my * my, blur(a * b) - mx * my
        c1, c2 = (K1 * dr) ** 2, (K2 * dr) ** 2
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        vals.append(s[pad:-pad, pad:-pad].mean())
    return float(np.mean(vals))


def ncc(x, y) -> float:
    x, y = _pair(x, y)
    a, b = x - x.mean(), y - y.mean()
    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
    if den == 0:
        return 1.0 if np.array_equal(x, y) else 0.0
    return float(np.sum(a * b) / den)


def mutual_information(x, y, data_range: float, bins: int = MI_BINS) -> float:
    x, y = _pair(x, y)
    dr = _check_range(data_range)
    xs = np.clip(x.ravel(), 0, dr)
    ys = np.clip(y.ravel(), 0, dr)
    joint, _, _ = np.histogram2d(xs, ys, bins=bins, range=[[0, dr], [0, dr]])
    p = joint / joint.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / (px @ py)[nz])))


def spatial_frequency(x, data_range: float) -> float:
    planes = _planes(np.asarray(x, dtype=np.float64)) / _check_range(data_range)
    vals = []
    for a in planes:
        rf2 = np.mean(np.diff(a, axis=1) ** 2)
        cf2 = np.mean(np.diff(a, axis=0) ** 2)
        vals.append(np.sqrt(rf2 + cf2))
    return float(np.mean(vals))


def mean_gradient(x, data_range: float) -> float:
    planes = _planes(np.asarray(x, dtype=np.float64)) / _check_range(data_range)
    vals = []
    for a in planes:
        dx = np.diff(a, axis=1)[:-1, :]
        dy = np.diff(a, axis=0)[:, :-1]
        vals.append(np.mean(np.sqrt((dx * dx + dy * dy) / 2)))
    return float(np.mean(vals))


def psnr_batch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """[B,C,H,W] pair → PSNR per sample [B] (inf where identical)."""
    dr = _check_range(data_range)
    mse = ((x.float() - y.float()) ** 2).flatten(1).mean(dim=1)
    return 10 * torch.log10(dr * dr / mse)


def ssim_batch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """[B,C,H,W] pair → SSIM per sample [B], same definition as ``ssim``."""
    return _ssim_torch(x.float(), y.float(), _check_range(data_range))
