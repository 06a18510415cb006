"""Writing a model's [0, 1] output back in the scan's units without losing what the model never saw.

The model sees raw values clipped to ``Intensity`` [lo, hi] (a CT window, MR percentiles). Where the raw scan,
upsampled with plain bicubic interpolation, lies inside that range the result is the model's output mapped back
(``Intensity.inverse``); elsewhere it is the bicubic upsample itself (clipped to the scan's own range, so edge
overshoot invents no new extremes), so air stays about −1000 HU and bone above the window stays bone in a derived
DICOM or NIfTI.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import zoom

from medray.imaging.normalise import Intensity

KEYS_A = -0.5  # Keys' cubic convolution parameter: the classic "bicubic" (interpolating, 3rd-order accurate)


def _keys(x: float) -> float:
    x = abs(x)
    if x <= 1:
        return (KEYS_A + 2) * x**3 - (KEYS_A + 3) * x**2 + 1
    if x < 2:
        return KEYS_A * (x**3 - 5 * x**2 + 8 * x - 4)
    return 0.0


def _upsample_last_axis(a: np.ndarray, s: int) -> np.ndarray:
    """Integer-factor cubic convolution along the last axis, edge-replicated; fine pixel i' sits at coarse
    (i' + 0.5)/s − 0.5. Each of the s output phases is 4 weighted shifted copies: vectorised over everything."""
    n = a.shape[-1]
    pad = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(2, 2)], mode="edge")
    out = np.empty(a.shape + (s,), np.float32)
    for p in range(s):
        f = (p + 0.5) / s - 0.5
        fl = math.floor(f)
        t = f - fl
        weights = [_keys(1 + t), _keys(t), _keys(1 - t), _keys(2 - t)]
        acc = np.zeros(a.shape, np.float32)
        for k, w in enumerate(weights):  # taps at coarse i + fl − 1 + k = pad index i + fl + 1 + k
            acc += np.float32(w) * pad[..., fl + 1 + k: fl + 1 + k + n]
        out[..., p] = acc
    return out.reshape(a.shape[:-1] + (n * s,))


def upsample_bicubic(raw: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """[N, H, W] → float32 [N, H', W'] by bicubic interpolation per slice, pixel centres aligned (the same grid as
    the codecs' affines). Integer factors use cubic convolution; any other ratio a cubic spline."""
    raw = np.asarray(raw, dtype=np.float32)
    n, h, w = raw.shape
    if shape_hw[0] % h == 0 and shape_hw[1] % w == 0:
        rows = _upsample_last_axis(np.swapaxes(raw, 1, 2), shape_hw[0] // h)  # [N, W, H']
        return np.ascontiguousarray(_upsample_last_axis(np.swapaxes(rows, 1, 2), shape_hw[1] // w))
    return np.stack([zoom(raw[k], (shape_hw[0] / h, shape_hw[1] / w), order=3, mode="reflect", grid_mode=True)
                     for k in range(n)]).astype(np.float32)


def write_back(out01: np.ndarray, raw: np.ndarray, intensity: Intensity) -> np.ndarray:
    """Model output [N, H', W'] in [0, 1] and the raw input [N, H, W] → float32 [N, H', W'] in raw units
    (float32 keeps 1/1000 HU up to ±8000 HU; halves the memory of a volume-sized result)."""
    up = upsample_bicubic(raw, out01.shape[-2:])
    # cubic convolution overshoots at edges (air/bone): keep the scan's own range, invent no new extremes
    np.clip(up, np.float32(np.min(raw)), np.float32(np.max(raw)), out=up)
    res = np.clip(np.asarray(out01, dtype=np.float32), 0.0, 1.0)  # Intensity.inverse, in float32 and in place
    res *= np.float32(intensity.hi - intensity.lo)
    res += np.float32(intensity.lo)
    np.copyto(res, up, where=~intensity.inside(up))
    return res
