"""Random aligned LR/HR crops: an HR patch of P pixels at (y, x) matches the LR patch of P/s pixels at
(y/s, x/s), because LR pixel j covers HR pixels [s·j, s·(j+1)). Origins are therefore multiples of s."""
from __future__ import annotations

import numpy as np

from medray.config import ConfigError


def check_patch(patch: int, scale: int, size: int) -> None:
    if patch % scale or patch < scale:
        raise ConfigError(f"patch={patch} must be a positive multiple of scale={scale}")
    if patch > size:
        raise ConfigError(f"patch={patch} is larger than the slice size {size}")


def random_origin(rng: np.random.Generator, size: int, window: int, scale: int) -> tuple[int, int]:
    """Top-left HR corner of a ``window``-pixel crop, aligned to the LR grid."""
    n = (size - window) // scale + 1  # number of aligned positions per axis
    y, x = rng.integers(0, n, size=2)
    return int(y) * scale, int(x) * scale


def crop_aligned(lr: np.ndarray, hr: np.ndarray, mask: np.ndarray | None, y: int, x: int, window: int, scale: int):
    """Crop HR [..., y:y+W, x:x+W], LR at the matching location and the HR-sized mask (LR/mask may be None)."""
    w = window // scale
    ly, lx = y // scale, x // scale
    hr_c = hr[..., y:y + window, x:x + window]
    lr_c = None if lr is None else lr[..., ly:ly + w, lx:lx + w]
    mask_c = None if mask is None else mask[..., y:y + window, x:x + window]
    return lr_c, hr_c, mask_c


def center_crop_aligned(lr, hr, mask, patch: int, scale: int):
    """Centred P-pixel HR crop (and its LR/mask partners) of an already cropped window, kept on the LR grid."""
    window = hr.shape[-1]
    off = ((window - patch) // 2) // scale * scale
    return crop_aligned(lr, hr, mask, off, off, patch, scale)


def augment_window(patch: int, scale: int, size: int) -> int:
    """Window cropped before augmentation: ~1.5·P so that rotation/scale/shift pull real pixels into the
    final P crop instead of padding, rounded up to the LR grid and capped at the slice."""
    extra = -(-patch // 4 // scale) * scale  # margin per side, a multiple of scale
    return min(size, patch + 2 * extra) if patch < size else size
