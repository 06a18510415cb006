"""How a low-resolution (LR) input is made from a high-resolution (HR) slice.

The degradation models an acquisition, not an image-editing resize, and deliberately differs from the bicubic
resize used as the evaluation baseline (so a model cannot win by inverting the evaluator's own kernel):

1. optical/partial-volume blur: Gaussian, ``sigma = BLUR_SIGMA_PER_SCALE · scale`` HR pixels;
2. patient motion (only when vitals give ``mobility`` in [0, 1]): a linear motion-blur kernel of
   ``1 + round(MOTION_PX_PER_MOBILITY · mobility)`` HR pixels along a random direction;
3. area downsampling: mean over ``scale × scale`` blocks (``skimage.transform.downscale_local_mean``);
4. noise (only when vitals give ``heart_rate``): Gaussian with
   ``std = NOISE_PER_BPM · max(heart_rate − NOISE_REST_BPM, 0)`` — a distressed patient (tachycardia) breathes and
   moves more, which shows up as noise/ghosting; clipped to [0, 1].

SpO2 and temperature do not enter the degradation; they are stored for the models to condition on. Every random
choice comes from a generator seeded by (seed, series, slice, scale), so a re-run makes bit-identical LR images,
and the parameters actually used are recorded per row as JSON in the ``degradation`` column.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
from scipy import ndimage
from skimage.draw import line as draw_line
from skimage.transform import downscale_local_mean

BLUR_SIGMA_PER_SCALE = 0.5
MOTION_PX_PER_MOBILITY = 12.0
NOISE_REST_BPM = 70.0
NOISE_PER_BPM = 0.0004  # 120 bpm → std 0.02 of the [0, 1] range


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def slice_rng(seed: int, series_id: str, slice_index: int, scale: int) -> np.random.Generator:
    key = int.from_bytes(hashlib.sha256(series_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed & 0xFFFFFFFF, key, slice_index, scale])


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """Normalised line kernel of ``length`` pixels at ``angle_deg`` (length 1 = identity)."""
    n = length if length % 2 else length + 1
    k = np.zeros((n, n), dtype=np.float32)
    c, r = n // 2, (length - 1) / 2.0
    dy, dx = r * math.sin(math.radians(angle_deg)), r * math.cos(math.radians(angle_deg))
    rr, cc = draw_line(int(round(c - dy)), int(round(c - dx)), int(round(c + dy)), int(round(c + dx)))
    k[rr, cc] = 1.0
    return k / k.sum()


def degrade(hr_chw: np.ndarray, scale: int, rng: np.random.Generator, heart_rate=None, mobility=None):
    """(C, H, W) HR in [0, 1] → ((C, H/scale, W/scale) float32 LR in [0, 1], params dict)."""
    sigma = BLUR_SIGMA_PER_SCALE * scale
    img = np.stack([ndimage.gaussian_filter(ch, sigma, mode="nearest") for ch in hr_chw.astype(np.float32)])
    params: dict = {"blur_sigma": sigma, "downsample": "area", "motion_px": 1, "motion_angle_deg": 0.0, "noise_std": 0.0}
    if _present(mobility):
        length = 1 + int(round(MOTION_PX_PER_MOBILITY * float(np.clip(mobility, 0.0, 1.0))))
        angle = float(rng.uniform(0.0, 180.0))
        if length > 1:
            k = motion_kernel(length, angle)
            img = np.stack([ndimage.convolve(ch, k, mode="nearest") for ch in img])
        params.update(motion_px=length, motion_angle_deg=round(angle, 2))
    lr = downscale_local_mean(img, (1, scale, scale)).astype(np.float32)
    if _present(heart_rate):
        std = NOISE_PER_BPM * max(float(heart_rate) - NOISE_REST_BPM, 0.0)
        if std > 0:
            lr = lr + rng.normal(0.0, std, size=lr.shape).astype(np.float32)
        params["noise_std"] = round(std, 6)
    return np.clip(lr, 0.0, 1.0).astype(np.float32), params


def degrade_all(hr_chw, scales, seed, series_id, slice_index, heart_rate=None, mobility=None):
    """LR image per scale plus the JSON string for the ``degradation`` column."""
    out, record = {}, {"model": "gaussian_blur+motion+area_downsample+noise", "seed": seed}
    for s in scales:
        rng = slice_rng(seed, series_id, slice_index, s)
        out[s], record[f"x{s}"] = degrade(hr_chw, s, rng, heart_rate=heart_rate, mobility=mobility)
    return out, json.dumps(record, sort_keys=True)
