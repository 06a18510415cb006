"""Seeded classic augmentation (rotation, scale, translation, flips, intensity) applied identically to every
array of a sample: LR and HR images of different sizes and the label mask.

A transform is sampled once (``sample_params``) and applied in *normalised* coordinates (centre of the array,
shift as a fraction of its width), so an LR array of N/s pixels and its HR partner of N pixels stay aligned.
Images use linear interpolation, masks nearest (labels stay labels); borders reflect. Intensity changes
(gamma, contrast, brightness) touch images only, with the same values for LR and HR.

Training draws one transform per sample per epoch (seed, epoch, rank, batch); serve's
``/v1/augment?mode=classic`` calls ``augment_image`` with its own seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medray.config import ConfigError, check_range


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 15.0  # uniform in ±rotation_deg
    scale_range: tuple[float, float] = (0.9, 1.1)  # zoom factor range (1 = none)
    translate_frac: float = 0.05  # uniform shift in ±frac of the width, per axis
    flip: bool = True  # horizontal and vertical flips with p=0.5 each
    gamma_range: tuple[float, float] = (0.9, 1.1)  # intensity gamma (1 = none)
    contrast_range: tuple[float, float] = (0.95, 1.05)
    brightness: float = 0.02  # additive shift in ±brightness

    def __post_init__(self):
        check_range("rotation_deg", self.rotation_deg, 0, 180)
        check_range("translate_frac", self.translate_frac, 0, 0.5)
        check_range("brightness", self.brightness, 0, 0.5)
        for name in ("scale_range", "gamma_range", "contrast_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ConfigError(f"{name}={(lo, hi)!r} must satisfy 0 < low <= high")


NO_AUGMENT = AugmentConfig(rotation_deg=0.0, scale_range=(1.0, 1.0), translate_frac=0.0, flip=False,
                           gamma_range=(1.0, 1.0), contrast_range=(1.0, 1.0), brightness=0.0)


@dataclass(frozen=True)
class AugmentParams:
    angle: float = 0.0  # radians, counter-clockwise
    zoom: float = 1.0
    shift: tuple = (0.0, 0.0)  # (dy, dx) as fractions of the width
    flip_h: bool = False
    flip_v: bool = False
    gamma: float = 1.0
    contrast: float = 1.0
    brightness: float = 0.0

    @property
    def is_geometric_identity(self) -> bool:
        return self.angle == 0 and self.zoom == 1 and self.shift == (0.0, 0.0)


def sample_params(rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> AugmentParams:
    u = rng.uniform
    return AugmentParams(
        angle=math.radians(u(-cfg.rotation_deg, cfg.rotation_deg)),
        zoom=float(u(*cfg.scale_range)),
        shift=(float(u(-cfg.translate_frac, cfg.translate_frac)), float(u(-cfg.translate_frac, cfg.translate_frac))),
        flip_h=bool(cfg.flip and rng.random() < 0.5),
        flip_v=bool(cfg.flip and rng.random() < 0.5),
        gamma=float(u(*cfg.gamma_range)),
        contrast=float(u(*cfg.contrast_range)),
        brightness=float(u(-cfg.brightness, cfg.brightness)),
    )


def _geometric(a: np.ndarray, p: AugmentParams, order: int) -> np.ndarray:
    """Apply rotation/zoom/shift to the last two axes of ``a`` (square), then flips."""
    if not p.is_geometric_identity:
        n = a.shape[-1]
        c, s = math.cos(p.angle), math.sin(p.angle)
        # output pixel centre o+0.5 → input: A·(o + 0.5 - n/2 - t) + n/2 - 0.5, A = (R·zoom)^-1
        inv = np.array([[c, s], [-s, c]]) / p.zoom
        t = np.array(p.shift) * n
        centre = np.full(2, n / 2.0)
        offset = inv @ (0.5 - centre - t) + centre - 0.5
        flat = a.reshape(-1, n, n)
        out = np.empty_like(flat, dtype=np.float32 if order else a.dtype)
        for i in range(flat.shape[0]):
            ndimage.affine_transform(flat[i].astype(np.float32) if order else flat[i], inv, offset=offset,
                                     output=out[i], order=order, mode="reflect")
        a = out.reshape(a.shape)
    if p.flip_h:
        a = a[..., :, ::-1]
    if p.flip_v:
        a = a[..., ::-1, :]
    return np.ascontiguousarray(a)


def _intensity(img: np.ndarray, p: AugmentParams) -> np.ndarray:
    img = np.clip(img, 0.0, 1.0)
    if p.gamma != 1.0:
        img = img ** p.gamma
    img = (img - 0.5) * p.contrast + 0.5 + p.brightness
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def apply_params(p: AugmentParams, images: list[np.ndarray], masks: list[np.ndarray | None] = ()) -> tuple:
    """Apply one transform to float images in [0,1] ([..., N, N], any N) and uint8 label masks.
    Returns (list of images, list of masks) in the given order; None masks stay None."""
    out_images = [_intensity(_geometric(np.asarray(im, np.float32), p, order=1), p) for im in images]
    out_masks = [None if m is None else _geometric(np.asarray(m), p, order=0) for m in masks]
    return out_images, out_masks


def augment_image(image: np.ndarray, mask: np.ndarray | None = None, *, seed: int,
                  cfg: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, np.ndarray | None]:
    """One seeded augmentation of an image ([H,W] or [C,H,W], square, in [0,1]) and its optional mask."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[-1] != image.shape[-2]:
        raise ConfigError(f"augment needs a square [H,W] or [C,H,W] image, got shape {image.shape}")
    p = sample_params(np.random.default_rng(seed), cfg)
    (img,), (m,) = apply_params(p, [image], [mask])
    return img, m
