"""Synthetic "patients": one seeded random smooth warp (affine + elastic) per patient.

The same backward map (output voxel → source voxel) is applied to every tissue map and to the T1, so all
modalities derived from them stay voxel-aligned; tumours (and so the seg) are drawn afterwards in the
warped space, so the seg is aligned with every modality by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medray.datasets.noise import upsample


@dataclass(frozen=True)
class WarpParams:
    """Ranges of the random warp. Angles in degrees, shifts and displacements in voxels (2 mm)."""

    max_rotation_deg: tuple[float, float, float] = (6.0, 6.0, 10.0)  # about x, y, z (axial in-plane is z)
    scale_range: tuple[float, float] = (0.92, 1.08)  # per axis: head size/shape varies between people
    max_shift_vox: float = 3.0
    elastic_std_vox: float = 1.5  # smooth local anatomy differences (ventricle size, gyri), not folding
    elastic_grid: tuple[int, int, int] = (5, 6, 5)  # control points; few → smooth field


@dataclass(frozen=True)
class Warp:
    """Backward map: coords[:, i, j, k] is the source voxel sampled for output voxel (i, j, k)."""

    coords: np.ndarray  # float32 [3, X, Y, Z]
    summary: dict  # what was drawn, for the manifest


def _rotation(angles_deg: np.ndarray) -> np.ndarray:
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def random_warp(shape: tuple[int, int, int], rng: np.random.Generator, params: WarpParams = WarpParams()) -> Warp:
    """Draw one smooth random warp for a volume of ``shape``."""
    angles = rng.uniform(-1, 1, 3) * np.asarray(params.max_rotation_deg)
    scales = rng.uniform(*params.scale_range, 3)
    shift = rng.uniform(-1, 1, 3) * params.max_shift_vox
    # Backward map of "scale by s then rotate": x_src = R^T diag(1/s) (x_out - c - t) + c.
    matrix = _rotation(angles).T @ np.diag(1.0 / scales)
    centre = (np.asarray(shape, dtype=np.float64) - 1) / 2

    # Elastic part: random displacements on a coarse grid, cubic-upsampled → smooth, cheap, seeded.
    coarse = rng.normal(0.0, params.elastic_std_vox, (3, *params.elastic_grid))
    disp = np.stack([upsample(c, shape) for c in coarse])

    grid = np.indices(shape, dtype=np.float64).reshape(3, -1)
    src = matrix @ (grid - centre[:, None] - shift[:, None]) + centre[:, None]
    coords = (src.reshape(3, *shape) + disp).astype(np.float32)
    summary = {
        "rotation_deg": [round(float(a), 3) for a in angles],
        "scale": [round(float(s), 4) for s in scales],
        "shift_mm": [round(float(v) * 2.0, 3) for v in shift],
        "elastic_std_vox": params.elastic_std_vox,
        "elastic_max_abs_vox": round(float(np.abs(disp).max()), 3),
    }
    return Warp(coords=coords, summary=summary)


def apply_warp(volume: np.ndarray, warp: Warp, order: int = 1) -> np.ndarray:
    """Resample ``volume`` through the warp (linear by default; outside the volume → 0)."""
    out = ndimage.map_coordinates(volume, warp.coords, order=order, mode="constant", cval=0.0)
    return out.astype(np.float32)
