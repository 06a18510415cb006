"""Volume → axial 256×256 slices, skipping near-empty ones.

A slice is *near-empty* when fewer than ``MIN_FOREGROUND`` (5 %) of its pixels exceed ``FOREGROUND_LEVEL``
(0.02 of the normalised range) in every channel: such slices (above the skull, below the neck, air) teach a
super-resolution model nothing and would dominate the data. Non-square slices are zero-padded to a square
(keeping the aspect ratio, since a model sees isotropic pixels) and resized anti-aliased with scikit-image;
label masks use nearest-neighbour so labels stay labels.
"""
from __future__ import annotations

import numpy as np
from skimage.transform import resize

from medray.shards.schema import SIZE

FOREGROUND_LEVEL = 0.02
MIN_FOREGROUND = 0.05


def is_near_empty(slice_chw: np.ndarray) -> bool:
    """True when no channel has at least MIN_FOREGROUND of its pixels above FOREGROUND_LEVEL."""
    frac = (slice_chw > FOREGROUND_LEVEL).reshape(slice_chw.shape[0], -1).mean(axis=1)
    return bool(frac.max() < MIN_FOREGROUND)


def pad_square(img: np.ndarray) -> np.ndarray:
    """Zero-pad the last two axes to a centred square."""
    h, w = img.shape[-2:]
    n = max(h, w)
    top, left = (n - h) // 2, (n - w) // 2
    pad = [(0, 0)] * (img.ndim - 2) + [(top, n - h - top), (left, n - w - left)]
    return np.pad(img, pad)


def resize_image(img_chw: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(C, h, w) float → (C, size, size) float32 in [0, 1]: square-pad, then anti-aliased bilinear resize."""
    sq = pad_square(img_chw)
    if sq.shape[-1] == size:
        return sq.astype(np.float32)
    out = resize(sq, (sq.shape[0], size, size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def resize_mask(mask_hw: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(h, w) label map → (size, size) uint8 by nearest neighbour (no new label values)."""
    sq = pad_square(mask_hw)
    out = resize(sq, (size, size), order=0, anti_aliasing=False, preserve_range=True)
    return np.rint(out).astype(np.uint8)


def resized_spacing(shape_hw: tuple[int, int], spacing_rc: tuple[float, float], size: int = SIZE) -> tuple[float, float]:
    """Pixel spacing (mm) after padding to a square and resizing to ``size``."""
    n = max(shape_hw)
    return (float(spacing_rc[0]) * n / size, float(spacing_rc[1]) * n / size)


def axial_slices(volume_chwd: np.ndarray):
    """Yield (index, (C, h, w) slice) along the last (axial) axis of a (C, h, w, d) volume."""
    for k in range(volume_chwd.shape[-1]):
        yield k, volume_chwd[..., k]
