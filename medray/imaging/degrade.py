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

Steps 2 and 4 (vitals-linked motion and noise) are medray's own idea, not paper A's: the paper conditions the
generator on vitals but degrades by resizing only. Whether they help is an open question (docs/models.md).

``profile="acquisition"`` adds what real acquisitions do, chosen per slice by modality (``standard``, the default,
is exactly steps 1–4, so existing shards and evaluation sets stay comparable):

- MR, thick slices / partial volume: a reformatted thick-slice acquisition averages ``THICK_SLICE_FACTORS`` HR pixels
  along one in-plane axis (box filter before the downsampling) — what a coronal or sagittal slice of an axial
  acquisition with thicker slices looks like;
- MR, k-space truncation: the LR image's spectrum is cut to a centred fraction ``KSPACE_KEEP`` per axis (zero
  filling, as a scanner that acquires fewer phase-encoding lines does), which leaves Gibbs ringing at edges;
- CT, noise: quantum noise, Gaussian with std in ``CT_NOISE_STD`` of the [0, 1] window, spatially correlated by a
  Gaussian of ``CT_NOISE_CORR_PX`` pixels as a reconstruction kernel makes it, added to the LR image.
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
PROFILES = ("standard", "acquisition")
THICK_SLICE_FACTORS = (1, 2, 3)  # 1 = none: a third of MR slices keep isotropic partial volume
KSPACE_KEEP = (0.6, 1.0)  # fraction of the LR spectrum kept per axis (1 = no truncation)
CT_NOISE_STD = (0.0, 0.02)
CT_NOISE_CORR_PX = 0.7


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


def thick_slice(img_chw: np.ndarray, factor: int, axis: int) -> np.ndarray:
    """Partial volume of a ``factor``× thicker slice along in-plane ``axis`` (0 = rows, 1 = columns): a box mean."""
    if factor <= 1:
        return img_chw
    return ndimage.uniform_filter1d(img_chw, size=int(factor), axis=1 + int(axis), mode="nearest")


def kspace_truncate(img_chw: np.ndarray, keep: float) -> np.ndarray:
    """Keep the centred ``keep`` fraction of the 2-D spectrum per axis, zero the rest (magnitude image back)."""
    if keep >= 1.0:
        return img_chw
    if not 0.0 < keep:
        raise ValueError(f"keep={keep} must be in (0, 1]")
    out = np.empty_like(img_chw, dtype=np.float32)
    for i, ch in enumerate(img_chw):
        f = np.fft.fftshift(np.fft.fft2(ch))
        h, w = ch.shape
        kh, kw = max(1, int(round(h * keep / 2))), max(1, int(round(w * keep / 2)))
        m = np.zeros_like(f)
        m[h // 2 - kh: h // 2 + kh, w // 2 - kw: w // 2 + kw] = 1
        out[i] = np.abs(np.fft.ifft2(np.fft.ifftshift(f * m)))
    return out


def ct_noise(img_chw: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Correlated Gaussian noise of standard deviation ``std`` (white noise through a Gaussian kernel, rescaled)."""
    if std <= 0:
        return img_chw
    n = ndimage.gaussian_filter(rng.standard_normal(img_chw.shape).astype(np.float32),
                                (0, CT_NOISE_CORR_PX, CT_NOISE_CORR_PX))
    return img_chw + n * (std / max(float(n.std()), 1e-8))


def degrade(hr_chw: np.ndarray, scale: int, rng: np.random.Generator, heart_rate=None, mobility=None,
            modality: str | None = None, profile: str = "standard"):
    """(C, H, W) HR in [0, 1] → ((C, H/scale, W/scale) float32 LR in [0, 1], params dict)."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not a degradation profile; valid: {list(PROFILES)}")
    acq_mr = profile == "acquisition" and modality == "MR"
    acq_ct = profile == "acquisition" and modality == "CT"
    sigma = BLUR_SIGMA_PER_SCALE * scale
    img = np.stack([ndimage.gaussian_filter(ch, sigma, mode="nearest") for ch in hr_chw.astype(np.float32)])
    params: dict = {"blur_sigma": sigma, "downsample": "area", "motion_px": 1, "motion_angle_deg": 0.0, "noise_std": 0.0}
    if acq_mr:
        factor, axis = int(rng.choice(THICK_SLICE_FACTORS)), int(rng.integers(0, 2))
        img = thick_slice(img, factor, axis)
        params.update(thick_slice_factor=factor, thick_slice_axis=axis)
    if _present(mobility):
        length = 1 + int(round(MOTION_PX_PER_MOBILITY * float(np.clip(mobility, 0.0, 1.0))))
        angle = float(rng.uniform(0.0, 180.0))
        if length > 1:
            k = motion_kernel(length, angle)
            img = np.stack([ndimage.convolve(ch, k, mode="nearest") for ch in img])
        params.update(motion_px=length, motion_angle_deg=round(angle, 2))
    lr = downscale_local_mean(img, (1, scale, scale)).astype(np.float32)
    if acq_mr:
        keep = float(rng.uniform(*KSPACE_KEEP))
        lr = kspace_truncate(lr, keep)
        params["kspace_keep"] = round(keep, 4)
    if acq_ct:
        std = float(rng.uniform(*CT_NOISE_STD))
        lr = ct_noise(lr, std, rng)
        params["ct_noise_std"] = round(std, 6)
    if _present(heart_rate):
        std = NOISE_PER_BPM * max(float(heart_rate) - NOISE_REST_BPM, 0.0)
        if std > 0:
            lr = lr + rng.normal(0.0, std, size=lr.shape).astype(np.float32)
        params["noise_std"] = round(std, 6)
    return np.clip(lr, 0.0, 1.0).astype(np.float32), params


def degrade_all(hr_chw, scales, seed, series_id, slice_index, heart_rate=None, mobility=None, modality=None,
                profile: str = "standard"):
    """LR image per scale plus the JSON string for the ``degradation`` column."""
    out, record = {}, {"model": "gaussian_blur+motion+area_downsample+noise", "seed": seed}
    if profile != "standard":
        record["profile"] = profile
    for s in scales:
        rng = slice_rng(seed, series_id, slice_index, s)
        out[s], record[f"x{s}"] = degrade(hr_chw, s, rng, heart_rate=heart_rate, mobility=mobility,
                                          modality=modality, profile=profile)
    return out, json.dumps(record, sort_keys=True)
