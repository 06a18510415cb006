"""Smooth seeded random fields, shared by the demo generator (warps, lesion shapes, bias fields)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def upsample(coarse: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Smoothly interpolate a coarse grid of control values to ``shape``.

    Cubic up to 1/4 resolution, then linear to full: the same smooth field as a full-resolution cubic zoom
    at about a tenth of its cost (that zoom dominated the generator's run time).
    """
    mid = [max(c, -(-s // 4)) for c, s in zip(coarse.shape, shape)]
    field = ndimage.zoom(coarse, [m / c for m, c in zip(mid, coarse.shape)], order=3, mode="nearest", grid_mode=True)
    field = ndimage.zoom(field, [s / m for s, m in zip(shape, field.shape)], order=1, mode="nearest", grid_mode=True)
    return field[tuple(slice(0, s) for s in shape)].astype(np.float32)


def smooth_noise(shape: tuple[int, ...], rng: np.random.Generator, grid: int = 4) -> np.ndarray:
    """Field of ``shape`` with values roughly in [-1, 1] from ``grid``ⁿ uniform control points.

    Fewer control points → smoother field; cheaper than Gaussian-filtering white noise at full resolution.
    """
    return upsample(rng.uniform(-1.0, 1.0, (grid,) * len(shape)), shape)
