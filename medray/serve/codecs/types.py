"""What every codec shares: the decoded form handed to the model, and the limits (and the one intensity option)
checked before decoding. Intensity normalisation itself is ``medray.imaging.normalise``, shared with ingest."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medray.config import ConfigError, InputError, check_range
from medray.imaging.geometry import check_sides
from medray.imaging.normalise import DEFAULT_CT_WINDOW, check_ct_window


@dataclass(frozen=True)
class CodecLimits:
    """Refuse bodies before they cost memory. ``max_voxels`` bounds the *declared* image size (PNG IHDR,
    NIfTI dims, DICOM rows×columns×frames), so a 1 kB file claiming 10⁹ voxels is refused before allocation;
    ``max_side`` bounds each in-plane side (a 256×65536 strip is within the area limit but no scan).
    ``ct_window`` names the HU window CT is normalised through: it must be the window the served model was
    trained with (``medray ingest --ct-window``)."""

    max_body_bytes: int = 64 * 2**20
    max_voxels: int = 2**24
    max_side: int = 4096
    ct_window: str = DEFAULT_CT_WINDOW

    def __post_init__(self):
        check_range("max_body_bytes", self.max_body_bytes, 1, None)
        check_range("max_voxels", self.max_voxels, 1, None)
        check_range("max_side", self.max_side, 1, None)
        check_ct_window(self.ct_window)

    def check_sides(self, sides, what: str) -> None:
        """Each in-plane side ≤ ``max_side`` (checked from the header, before decoding)."""
        check_sides(sides, self.max_side, what)  # the check ingest's readers use too

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
