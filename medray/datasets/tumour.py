"""Synthetic glioma-like lesions with BraTS labels, and the intensity change each label causes per modality.

Shape: three nested, irregular blobs around one centre in white matter — necrotic core (label 1) inside an
enhancing rim (label 4) inside peritumoral edema (label 2), the BraTS-2018..2020 label convention. Each
boundary is a level set of an anisotropic distance perturbed by its own smooth random field, so no two
lesions look alike; edema is kept inside the brain and reaches further into white matter, as vasogenic
edema spreads along it.

Intensities (same 0..1 scale as medray.datasets.contrasts; healthy WM ≈ 0.85 T1, 0.75 T1ce, 0.40 T2, 0.45 FLAIR)
follow the usual radiological picture: every tumour part is T1-hypointense; on T1ce the rim enhances
(brighter than anything in healthy brain) and the necrotic core is dark; on T2 and FLAIR the edema is
hyperintense, and the fluid-rich necrosis is bright on T2 but partly suppressed on FLAIR. All synthetic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medray.datasets.noise import smooth_noise

NECROSIS, EDEMA, ENHANCING = 1, 2, 4
LABELS = (NECROSIS, EDEMA, ENHANCING)

# Target intensity per modality and label; the lesion replaces the healthy value (partial-volume blended).
LESION_INTENSITY: dict[str, dict[int, float]] = {
    "t1": {NECROSIS: 0.25, EDEMA: 0.55, ENHANCING: 0.50},
    "t1ce": {NECROSIS: 0.20, EDEMA: 0.50, ENHANCING: 1.00},
    "t2": {NECROSIS: 0.95, EDEMA: 0.80, ENHANCING: 0.65},
    "flair": {NECROSIS: 0.45, EDEMA: 0.85, ENHANCING: 0.70},
}


@dataclass(frozen=True)
class TumourParams:
    """Lesion size ranges, in 2 mm voxels (edema radius 7..12 vox = 28..48 mm diameter)."""

    edema_radius_vox: tuple[float, float] = (7.0, 12.0)
    core_fraction: tuple[float, float] = (0.45, 0.65)  # enhancing-rim outer radius / edema radius
    necrosis_fraction: tuple[float, float] = (0.40, 0.60)  # necrosis radius / rim outer radius
    irregularity: float = 0.25  # relative amplitude of the boundary perturbation
    heterogeneity: float = 0.06  # relative intensity texture inside the lesion


def _pick_centre(brain: np.ndarray, wm: np.ndarray, margin: float, rng: np.random.Generator) -> np.ndarray:
    """A white-matter voxel at least ``margin`` voxels inside the brain (fallback: deepest voxels)."""
    depth = ndimage.distance_transform_edt(brain)
    ok = np.argwhere((wm > 0.5) & (depth >= margin))
    if len(ok) == 0:
        ok = np.argwhere(depth >= 0.8 * depth.max())
    return ok[rng.integers(len(ok))].astype(np.float64)


def make_tumour(brain: np.ndarray, wm: np.ndarray, rng: np.random.Generator,
                params: TumourParams = TumourParams()) -> tuple[np.ndarray, dict]:
    """Draw one lesion; return the uint8 seg (labels 0/1/2/4) and a summary for the manifest."""
    r_edema = rng.uniform(*params.edema_radius_vox)
    r_core = r_edema * rng.uniform(*params.core_fraction)
    r_necrosis = max(r_core * rng.uniform(*params.necrosis_fraction), 1.8)
    centre = _pick_centre(brain, wm, margin=0.9 * r_core + 2, rng=rng)

    stretch = rng.uniform(0.8, 1.25, 3)  # ellipsoidal, not spherical
    # Work in a box around the centre (cheap). Farthest reach: edema radius × 1.2 (WM) × max stretch, divided by
    # the smallest perturbation factor (1 − irregularity, with a margin for cubic overshoot).
    half = int(np.ceil(r_edema * 1.2 * stretch.max() / (1 - 1.1 * params.irregularity))) + 2
    lo = np.maximum(centre.astype(int) - half, 0)
    hi = np.minimum(centre.astype(int) + half + 1, brain.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    shape = tuple(hi - lo)
    offs = [np.arange(a, b, dtype=np.float64) - c for a, b, c in zip(lo, hi, centre)]
    dist = np.sqrt(sum((o.reshape([-1 if i == j else 1 for j in range(3)]) / s) ** 2
                       for i, (o, s) in enumerate(zip(offs, stretch))))

    def region(radius: float) -> np.ndarray:
        bumpy = dist * (1.0 + params.irregularity * smooth_noise(shape, rng))
        return bumpy < radius

    inside = brain[box]
    necrosis = region(r_necrosis) & inside
    core = (region(r_core) | ndimage.binary_dilation(necrosis, iterations=1)) & inside
    # Edema reaches further where there is white matter (radius × 0.8..1.2 with WM fraction).
    bumpy = dist * (1.0 + params.irregularity * smooth_noise(shape, rng))
    edema = bumpy < r_edema * (0.8 + 0.4 * wm[box])
    edema = (edema | ndimage.binary_dilation(core, iterations=2)) & inside

    seg = np.zeros(brain.shape, dtype=np.uint8)
    sub = seg[box]
    sub[edema] = EDEMA
    sub[core] = ENHANCING
    sub[necrosis] = NECROSIS
    counts = {int(l): int((seg == l).sum()) for l in LABELS}
    summary = {
        "centre_vox": [int(c) for c in centre],
        "radii_vox": {"edema": round(r_edema, 2), "enhancing_outer": round(r_core, 2),
                      "necrosis": round(r_necrosis, 2)},
        "voxels": {"necrosis": counts[NECROSIS], "edema": counts[EDEMA], "enhancing": counts[ENHANCING]},
        "volume_ml": round(sum(counts.values()) * 8e-3, 2),  # 2 mm voxels = 8 µl
    }
    return seg, summary


def apply_lesion(images: dict[str, np.ndarray], seg: np.ndarray, rng: np.random.Generator,
                 params: TumourParams = TumourParams()) -> dict[str, np.ndarray]:
    """Replace healthy intensities by each label's target per modality, with soft edges and texture."""
    if not seg.any():
        return dict(images)
    # Soft per-label weights (σ = 0.7 vox) give partial-volume edges instead of a cut-out look.
    weights = {l: ndimage.gaussian_filter((seg == l).astype(np.float32), 0.7) for l in LABELS}
    total = np.clip(sum(weights.values()), 0.0, 1.0)
    texture = 1.0 + params.heterogeneity * smooth_noise(seg.shape, rng, grid=12)
    out = {}
    for name, img in images.items():
        target = sum(weights[l] * LESION_INTENSITY[name][l] for l in LABELS)
        out[name] = (img * (1.0 - total) + target * texture).astype(np.float32)
    return out
