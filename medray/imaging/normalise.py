"""Intensity normalisation to [0, 1].

MRI has no absolute scale, so each volume (each BraTS channel separately) is clipped to its own
[0.5, 99.5] percentiles over *foreground* voxels (> 0; skull-stripped BraTS/MNI backgrounds are exactly 0 and
would otherwise pull the low percentile to 0) and rescaled. CT is in Hounsfield units, so a named window
(centre, width) maps HU linearly onto [0, 1] — the same mapping radiologists use to read the scan.
"""
from __future__ import annotations

import numpy as np

from medray.config import check_choice

MRI_PERCENTILES = (0.5, 99.5)

# name → (centre HU, width HU); standard radiology reading windows.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}
DEFAULT_CT_WINDOW = "soft_tissue"


def check_ct_window(name: str) -> str:
    """Return ``name`` if it is a known CT window, else raise ConfigError listing the valid names."""
    return check_choice("ct_window", name, sorted(CT_WINDOWS))


def normalise_mri(volume: np.ndarray) -> np.ndarray:
    """Per-volume percentile clip → float32 in [0, 1]. A constant volume maps to zeros."""
    v = np.asarray(volume, dtype=np.float32)
    fg = v[v > 0]
    if fg.size < 16:  # (almost) no positive voxels, e.g. a zero-centred map: use every voxel
        fg = v.ravel()
    lo, hi = np.percentile(fg, MRI_PERCENTILES)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros_like(v)
    out = (np.clip(v, lo, hi) - lo) / (hi - lo)
    return out.astype(np.float32)


def normalise_ct(volume_hu: np.ndarray, window: str = DEFAULT_CT_WINDOW) -> np.ndarray:
    """HU → [0, 1] through the named window (below the window is 0, above is 1)."""
    centre, width = CT_WINDOWS[check_ct_window(window)]
    lo = centre - width / 2.0
    out = (np.asarray(volume_hu, dtype=np.float32) - lo) / width
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def normalise(volume: np.ndarray, modality: str, ct_window: str = DEFAULT_CT_WINDOW) -> np.ndarray:
    return normalise_ct(volume, ct_window) if modality == "CT" else normalise_mri(volume)
