"""Image-quality metrics as pure functions with an explicit ``data_range`` (MONAI/skimage habit).

numpy versions take one image, [H,W] or channel-first [C,H,W]:

- ``psnr``: 10·log10(data_range² / MSE), MSE over every pixel of every channel; +inf for identical images.
- ``ssim``: Wang et al. 2004, Gaussian window σ = 1.5 (11 taps), K1 = 0.01, K2 = 0.03, population
  covariances, border of 5 px excluded — equal to ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``. Channels averaged.
- ``ncc``: zero-mean normalised cross-correlation in [−1, 1] per channel, channels averaged (pooling
  channels would add the between-contrast mean differences as shared "signal"); for a constant channel
  (undefined) it is 1.0 if both are identical, else 0.0.
- ``mutual_information``: in **bits** (log2), from the joint histogram with ``bins`` (default 64) equal
  bins over [0, data_range] per channel, channels averaged; values outside the range fall in the edge bins.
- ``spatial_frequency``: SF = sqrt(RF² + CF²), RF² / CF² = mean squared horizontal / vertical
  neighbour difference of image/data_range (means over the M·(N−1) and (M−1)·N available pairs).
- ``mean_gradient``: MG = mean over (M−1)·(N−1) pixels of sqrt((Δx² + Δy²) / 2) with forward
  differences of image/data_range.
- ``body_mask``: the body of the *reference* image (threshold above background, small specks dropped,
  holes filled, dilated a few pixels). ``psnr_fg`` / ``ssim_fg`` score only inside it: air around a head
  is easy to reproduce and inflates whole-slice PSNR by several dB. An empty mask gives NaN.

torch versions take [B,C,H,W] and return one value per sample [B]: ``psnr_batch``, ``ssim_batch`` (and
``ssim_map``, differentiable: ``medray.losses.ssim`` is built on it), ``psnr_fg_batch``, ``ssim_fg_batch``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

WIN = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
PAD = (WIN - 1) // 2  # border the valid-window SSIM map loses on each side
MI_BINS = 64
BODY_THRESHOLD = 0.05  # fraction of data_range above which a reference pixel is tissue, not air
BODY_MIN_FRACTION = 0.1  # components smaller than this fraction of the largest are noise, not body
BODY_DILATE_PX = 3


# ---- SSIM kernel (torch; the numpy metric and the loss both use it) ----

def gaussian_window(size: int = WIN, sigma: float = SIGMA, dtype=torch.float32, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """[B,C,H,W] pair → SSIM map [B,C,H−10,W−10] ('valid' window, as skimage's cropped mean). H, W ≥ 11."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"ssim needs two [B,C,H,W] tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < WIN:
        raise ValueError(f"ssim needs H,W ≥ {WIN}, got {tuple(x.shape[-2:])}")
    dr = _check_range(data_range)
    c = x.shape[1]
    g = gaussian_window(dtype=x.dtype, device=x.device)
    gh = g.view(1, 1, 1, WIN).expand(c, 1, 1, WIN)
    gv = g.view(1, 1, WIN, 1).expand(c, 1, WIN, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable Gaussian, valid region only
        return F.conv2d(F.conv2d(t, gh, groups=c), gv, groups=c)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (K1 * dr) ** 2, (K2 * dr) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


# ---- helpers ----

def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {x.shape} vs {y.shape}")
    return x, y


def _planes(x: np.ndarray) -> np.ndarray:
    """[H,W] or [C,H,W] → [C,H,W]."""
    if x.ndim == 2:
        return x[None]
    if x.ndim == 3:
        return x
    raise ValueError(f"expected an [H,W] or [C,H,W] image, got shape {x.shape}")


def _check_range(data_range: float) -> float:
    if not data_range or data_range <= 0:
        raise ValueError(f"data_range={data_range!r} must be > 0")
    return float(data_range)


def _np_ssim_map(x: np.ndarray, y: np.ndarray, data_range: float) -> np.ndarray:
    """[C,H,W] pair → SSIM map [C,H−10,W−10] in float64."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None]  # noqa: E731
    return ssim_map(t(x), t(y), data_range)[0].numpy()


def _fg_mask(y: np.ndarray, data_range: float, mask) -> np.ndarray:
    m = body_mask(y, data_range) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != y.shape[-2:]:
        raise ValueError(f"mask shape {m.shape} does not match the image's H,W {y.shape[-2:]}")
    return m


# ---- whole-image metrics ----

def psnr(x, y, data_range: float) -> float:
    x, y = _pair(x, y)
    dr = _check_range(data_range)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(dr * dr / mse))


def ssim(x, y, data_range: float) -> float:
    x, y = _pair(x, y)
    return float(_np_ssim_map(_planes(x), _planes(y), data_range).mean())


def _ncc_plane(a: np.ndarray, b: np.ndarray) -> float:
    da, db = a - a.mean(), b - b.mean()
    den = np.sqrt(np.sum(da * da) * np.sum(db * db))
    if den == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.sum(da * db) / den)


def ncc(x, y) -> float:
    x, y = _pair(x, y)
    return float(np.mean([_ncc_plane(a, b) for a, b in zip(_planes(x), _planes(y))]))


def _mi_plane(a: np.ndarray, b: np.ndarray, dr: float, bins: int) -> float:
    joint, _, _ = np.histogram2d(np.clip(a.ravel(), 0, dr), np.clip(b.ravel(), 0, dr), bins=bins,
                                 range=[[0, dr], [0, dr]])
    p = joint / joint.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / (px @ py)[nz])))


def mutual_information(x, y, data_range: float, bins: int = MI_BINS) -> float:
    """Mutual information in bits, per channel then averaged."""
    x, y = _pair(x, y)
    dr = _check_range(data_range)
    return float(np.mean([_mi_plane(a, b, dr, bins) for a, b in zip(_planes(x), _planes(y))]))


def spatial_frequency(x, data_range: float) -> float:
    planes = _planes(np.asarray(x, dtype=np.float64)) / _check_range(data_range)
    vals = []
    for a in planes:
        rf2 = np.mean(np.diff(a, axis=1) ** 2)
        cf2 = np.mean(np.diff(a, axis=0) ** 2)
        vals.append(np.sqrt(rf2 + cf2))
    return float(np.mean(vals))


def mean_gradient(x, data_range: float) -> float:
    planes = _planes(np.asarray(x, dtype=np.float64)) / _check_range(data_range)
    vals = []
    for a in planes:
        dx = np.diff(a, axis=1)[:-1, :]
        dy = np.diff(a, axis=0)[:, :-1]
        vals.append(np.mean(np.sqrt((dx * dx + dy * dy) / 2)))
    return float(np.mean(vals))


# ---- foreground (body) metrics ----

def body_mask(y, data_range: float, threshold: float = BODY_THRESHOLD, dilate_px: int = BODY_DILATE_PX,
              min_fraction: float = BODY_MIN_FRACTION) -> np.ndarray:
    """Bool [H,W] body mask of the reference ``y`` ([H,W] or [C,H,W]; a pixel is tissue in any channel):
    pixels above ``threshold``·data_range, connected components of at least ``min_fraction`` of the largest,
    holes filled (dark ventricles, sinuses are body), dilated by ``dilate_px`` (a disk) so edges count."""
    planes = _planes(np.asarray(y, dtype=np.float64))
    fg = (planes > threshold * _check_range(data_range)).any(axis=0)
    labels, n = ndimage.label(fg)
    if n == 0:
        return fg
    sizes = np.bincount(labels.ravel())[1:]
    fg = np.isin(labels, 1 + np.flatnonzero(sizes >= min_fraction * sizes.max()))
    fg = ndimage.binary_fill_holes(fg)
    if dilate_px > 0:
        r = np.arange(-dilate_px, dilate_px + 1)
        disk = r[:, None] ** 2 + r[None, :] ** 2 <= dilate_px**2
        fg = ndimage.binary_dilation(fg, structure=disk)
    return fg


def psnr_fg(x, y, data_range: float, mask=None) -> float:
    """PSNR over the pixels inside ``mask`` ([H,W] bool, every channel; default ``body_mask(y)``); NaN if empty."""
    x, y = _pair(x, y)
    dr = _check_range(data_range)
    m = _fg_mask(y, dr, mask)
    if not m.any():
        return float("nan")
    mse = float(np.mean((_planes(x)[:, m] - _planes(y)[:, m]) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(dr * dr / mse))


def ssim_fg(x, y, data_range: float, mask=None) -> float:
    """Mean of the SSIM map over ``mask`` (default ``body_mask(y)``) minus the 5-px border, channels averaged;
    NaN if nothing of the mask is left."""
    x, y = _pair(x, y)
    dr = _check_range(data_range)
    m = _fg_mask(y, dr, mask)[PAD:-PAD, PAD:-PAD]
    if not m.any():
        return float("nan")
    return float(_np_ssim_map(_planes(x), _planes(y), dr)[:, m].mean())


# ---- batched torch versions (training validation) ----

def _float(t: torch.Tensor) -> torch.Tensor:
    return t if t.is_floating_point() else t.float()


def psnr_batch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """[B,C,H,W] pair → PSNR per sample [B] (inf where identical)."""
    dr = _check_range(data_range)
    mse = ((_float(x) - _float(y)) ** 2).flatten(1).mean(dim=1)
    return 10 * torch.log10(dr * dr / mse)


def ssim_batch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """[B,C,H,W] pair → SSIM per sample [B], same definition as ``ssim`` (differentiable)."""
    return ssim_map(_float(x), _float(y), data_range).mean(dim=(1, 2, 3))


def _batch_masks(y: torch.Tensor, data_range: float, mask) -> torch.Tensor:
    """[B,H,W] bool masks: given ([B,H,W] or [B,1,H,W]) or ``body_mask`` of each reference."""
    if mask is None:
        ys = y.detach().cpu().double().numpy()
        return torch.from_numpy(np.stack([body_mask(s, data_range) for s in ys])).to(y.device)
    m = mask.to(device=y.device, dtype=torch.bool)
    m = m[:, 0] if m.ndim == 4 else m
    if m.shape != (y.shape[0], *y.shape[-2:]):
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match [B,H,W] of images {tuple(y.shape)}")
    return m


def psnr_fg_batch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, mask=None) -> torch.Tensor:
    """[B,C,H,W] pair → foreground PSNR per sample [B], as ``psnr_fg`` (NaN for an empty mask)."""
    dr = _check_range(data_range)
    m = _batch_masks(y, dr, mask).unsqueeze(1).to(_float(x).dtype)  # [B,1,H,W]
    se = ((_float(x) - _float(y)) ** 2 * m).sum(dim=(1, 2, 3))
    n = m.sum(dim=(1, 2, 3)) * x.shape[1]
    return 10 * torch.log10(dr * dr / (se / n))  # 0/0 → NaN for an empty mask


def ssim_fg_batch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, mask=None) -> torch.Tensor:
    """[B,C,H,W] pair → foreground SSIM per sample [B], as ``ssim_fg`` (NaN for an empty mask)."""
    s = ssim_map(_float(x), _float(y), data_range)
    m = _batch_masks(y, data_range, mask)[:, None, PAD:-PAD, PAD:-PAD].to(s.dtype)
    return (s * m).sum(dim=(1, 2, 3)) / (m.sum(dim=(1, 2, 3)) * s.shape[1])
