"""What every codec shares: the decoded form handed to the model, and the size limits checked before decoding."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medray.config import ConfigError, InputError, check_range


@dataclass(frozen=True)
class CodecLimits:
    """Refuse bodies before they cost memory. ``max_voxels`` bounds the *declared* image size (PNG IHDR,
    NIfTI dims, DICOM rows×columns×frames), so a 1 kB file claiming 10⁹ voxels is refused before allocation."""

    max_body_bytes: int = 64 * 2**20
    max_voxels: int = 2**24

    def __post_init__(self):
        check_range("max_body_bytes", self.max_body_bytes, 1, None)
        check_range("max_voxels", self.max_voxels, 1, None)

    def check_voxels(self, n: int, what: str) -> None:
        if n > self.max_voxels:
            raise InputError("too_large", f"{what} declares {n} voxels; the limit is {self.max_voxels}")


@dataclass
class Decoded:
    """A body decoded into model input. ``slices`` is float32 [N, C, H, W] in [0, 1]; ``meta`` is the
    codec's private state needed to write a result back in the same format (header, dataset, bit depth)."""

    fmt: str
    slices: np.ndarray
    media_type: str
    meta: Any = field(default=None, repr=False)

    def __post_init__(self):
        if self.slices.ndim != 4 or self.slices.dtype != np.float32:
            raise ConfigError(f"Decoded.slices must be float32 [N,C,H,W], got {self.slices.dtype} {self.slices.shape}")


def normalise(arr: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Min-max to [0, 1] over the whole image/volume (one range, so slices stay comparable).
    Returns (float32 array, lo, hi) so the result can be mapped back to the input's intensity scale."""
    a = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        raise InputError("not_image", "image has no finite intensity values")
    lo, hi = float(a[finite].min()), float(a[finite].max())
    a = np.where(finite, a, lo)
    out = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return out.astype(np.float32), lo, hi


def denormalise(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Inverse of ``normalise`` (model output is clipped to [0, 1] first)."""
    return np.clip(x, 0.0, 1.0).astype(np.float64) * (hi - lo) + lo
