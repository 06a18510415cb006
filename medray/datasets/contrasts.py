"""The four BraTS modalities from one (warped) anatomy.

T1 is the real MNI152 T1 template. T1ce, T2 and FLAIR are **synthetic**: there is no packaged real scan of
those contrasts, so each is a partial-volume mix of the real GM/WM/CSF probability maps with textbook
relative intensities (T2: CSF brightest, WM darker than GM; FLAIR: like T2 but CSF suppressed; T1ce: T1-like,
half real T1 texture so it is not a plain tissue cartoon). Then every modality gets its own smooth
multiplicative bias field and Rician noise, as separate acquisitions would, and is stored as int16.
"""
from __future__ import annotations

import numpy as np

from medray.datasets.noise import smooth_noise

MODALITIES = ("t1", "t1ce", "t2", "flair")

# Relative tissue intensities on a 0..1 scale (healthy WM/GM/CSF), chosen from the standard contrast order.
TISSUE_INTENSITY: dict[str, dict[str, float]] = {
    "t1ce": {"gm": 0.55, "wm": 0.75, "csf": 0.15},
    "t2": {"gm": 0.55, "wm": 0.40, "csf": 0.95},
    "flair": {"gm": 0.60, "wm": 0.45, "csf": 0.08},
}
T1CE_REAL_T1_WEIGHT = 0.5
STORE_SCALE = 1000.0  # stored int16 = round(intensity × 1000)
BIAS_AMPLITUDE = 0.08  # ±8 % smooth intensity inhomogeneity
NOISE_SIGMA = 0.012  # Rician noise σ on the 0..1 scale (SNR ≈ 60 in WM)


def healthy_contrasts(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray, csf: np.ndarray) -> dict[str, np.ndarray]:
    """Return {modality: float32 volume} for healthy tissue (before lesions and acquisition effects)."""
    out = {"t1": t1.astype(np.float32)}
    for name, w in TISSUE_INTENSITY.items():
        out[name] = (w["gm"] * gm + w["wm"] * wm + w["csf"] * csf).astype(np.float32)
    out["t1ce"] = (T1CE_REAL_T1_WEIGHT * t1 + (1 - T1CE_REAL_T1_WEIGHT) * out["t1ce"]).astype(np.float32)
    return out


def acquire(img: np.ndarray, brain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bias field + Rician noise inside the head, then int16 storage. Background stays exactly 0."""
    bias = 1.0 + BIAS_AMPLITUDE * smooth_noise(img.shape, rng, grid=3)
    clean = img * bias
    noisy = np.sqrt((clean + rng.normal(0, NOISE_SIGMA, img.shape)) ** 2 + rng.normal(0, NOISE_SIGMA, img.shape) ** 2)
    noisy = np.where(brain, noisy, 0.0)
    return np.clip(np.rint(noisy * STORE_SCALE), 0, np.iinfo(np.int16).max).astype(np.int16)
