"""Writing a model's [0, 1] output back in the scan's units without losing what the model never saw.

The model sees raw values clipped to ``Intensity`` [lo, hi] (a CT window, MR percentiles). Where the raw scan,
upsampled with a plain bicubic spline, lies inside that range the result is the model's output mapped back
(``Intensity.inverse``); elsewhere it is the bicubic upsample itself, so air stays about −1000 HU and bone above
the window stays bone in a derived DICOM or NIfTI.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import zoom

from medray.imaging.normalise import Intensity


def upsample_bicubic(raw: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """[N, H, W] → float32 [N, H', W'] by a cubic spline per slice, pixel centres aligned
    (fine pixel i' sits at coarse (i' + 0.5)·H/H' − 0.5, the same grid as the codecs' affines)."""
    raw = np.asarray(raw, dtype=np.float32)
    n, h, w = raw.shape
    out = np.empty((n, *shape_hw), np.float32)
    for k in range(n):
        out[k] = zoom(raw[k], (shape_hw[0] / h, shape_hw[1] / w), order=3, mode="reflect", grid_mode=True)
    return out


def write_back(out01: np.ndarray, raw: np.ndarray, intensity: Intensity) -> np.ndarray:
    """Model output [N, H', W'] in [0, 1] and the raw input [N, H, W] → float64 [N, H', W'] in raw units."""
    up = upsample_bicubic(raw, out01.shape[-2:])
    return np.where(intensity.inside(up), intensity.inverse(out01), up)
