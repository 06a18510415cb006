"""The one invertible intensity normalisation, shared by ingest (training data) and the serve codecs (inference).

``fit_intensity`` chooses a range [lo, hi] once per volume; ``Intensity.forward`` maps raw values linearly onto
[0, 1] (clipping outside the range) and ``Intensity.inverse`` maps [0, 1] back to raw values, so a model served
on a scan sees exactly the contrast it was trained on, and its output can be written back in the scan's units.

- MR has no absolute scale, so each volume (each BraTS channel separately) uses its own [0.5, 99.5] percentiles
  over *foreground* voxels (> 0; skull-stripped BraTS/MNI backgrounds are exactly 0 and would otherwise pull the
  low percentile to 0).
- CT is in Hounsfield units: a named window (centre, width) maps HU onto [0, 1] — the mapping radiologists read
  with. What lies outside the window is clipped for the model and kept for write-back (``imaging.writeback``).
- PNG has no physical unit: divide by the bit depth's maximum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medray.config import ConfigError, check_choice

MRI_PERCENTILES = (0.5, 99.5)

# name → (centre HU, width HU); standard radiology reading windows.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}
DEFAULT_CT_WINDOW = "soft_tissue"
MODALITIES = ("CT", "MR", "PNG")


def check_ct_window(name: str) -> str:
    """Return ``name`` if it is a known CT window, else raise ConfigError listing the valid names."""
    return check_choice("ct_window", name, sorted(CT_WINDOWS))


@dataclass(frozen=True)
class Intensity:
    """A linear map raw ``[lo, hi]`` ↔ ``[0, 1]``. ``hi == lo`` (a constant volume) maps everything to 0."""

    modality: str  # "CT", "MR" or "PNG"
    lo: float
    hi: float
    window: str | None = None  # the CT window's name

    def __post_init__(self):
        check_choice("modality", self.modality, list(MODALITIES))
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)) or self.hi < self.lo:
            raise ConfigError(f"Intensity range [{self.lo}, {self.hi}] must be finite with lo ≤ hi")

    def forward(self, raw: np.ndarray) -> np.ndarray:
        """Raw values → float32 in [0, 1] (values outside [lo, hi] are clipped)."""
        v = np.asarray(raw, dtype=np.float32)
        if self.hi <= self.lo:
            return np.zeros_like(v)
        lo, hi = np.float32(self.lo), np.float32(self.hi)
        return ((np.clip(v, lo, hi) - lo) / (hi - lo)).astype(np.float32)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """[0, 1] (clipped first: model outputs may overshoot) → float64 raw values in [lo, hi]."""
        return np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * (self.hi - self.lo) + self.lo

    def inside(self, raw: np.ndarray) -> np.ndarray:
        """Where ``forward`` is invertible: raw values within [lo, hi]."""
        return (raw >= self.lo) & (raw <= self.hi)


def ct_intensity(window: str = DEFAULT_CT_WINDOW) -> Intensity:
    centre, width = CT_WINDOWS[check_ct_window(window)]
    return Intensity("CT", centre - width / 2.0, centre + width / 2.0, window)


def mri_intensity(volume: np.ndarray) -> Intensity:
    """Foreground [0.5, 99.5] percentiles; a volume with (almost) no positive voxels uses every voxel."""
    v = np.asarray(volume, dtype=np.float32)
    fg = v[v > 0]
    if fg.size < 16:  # e.g. a zero-centred map
        fg = v.ravel()
    if fg.size == 0:
        return Intensity("MR", 0.0, 0.0)
    lo, hi = (float(p) for p in np.percentile(fg, MRI_PERCENTILES))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return Intensity("MR", lo if np.isfinite(lo) else 0.0, lo if np.isfinite(lo) else 0.0)
    return Intensity("MR", lo, hi)


def png_intensity(bits: int) -> Intensity:
    return Intensity("PNG", 0.0, float(2**bits - 1))


def fit_intensity(volume: np.ndarray | None, modality: str, ct_window: str = DEFAULT_CT_WINDOW,
                  bits: int = 8) -> Intensity:
    """The normalisation for one volume: CT → the named HU window, MR → its percentiles, PNG → bit depth."""
    if modality == "CT":
        return ct_intensity(ct_window)
    if modality == "PNG":
        return png_intensity(bits)
    if modality == "MR":
        return mri_intensity(volume)
    raise ConfigError(f"modality {modality!r} is not one of {list(MODALITIES)}")


def normalise_mri(volume: np.ndarray) -> np.ndarray:
    """Per-volume percentile clip → float32 in [0, 1]. A constant volume maps to zeros."""
    return mri_intensity(volume).forward(volume)


def normalise_ct(volume_hu: np.ndarray, window: str = DEFAULT_CT_WINDOW) -> np.ndarray:
    """HU → [0, 1] through the named window (below the window is 0, above is 1)."""
    return ct_intensity(window).forward(volume_hu)


def normalise(volume: np.ndarray, modality: str, ct_window: str = DEFAULT_CT_WINDOW) -> np.ndarray:
    """What ingest stores: ``fit_intensity(volume, modality).forward(volume)`` (anything not CT is treated as MR)."""
    return fit_intensity(volume, "CT" if modality == "CT" else "MR", ct_window).forward(volume)
