"""Co-registration of one patient's modalities onto a reference (T1) grid.

Two cases, both rigid and cheap, since BraTS-style data is acquired in one session:

* different grids (shape or affine differ): resample the moving volume onto the reference voxel grid through the
  affines (voxel → world → voxel; trilinear for images, nearest for labels, zero outside);
* same grid but shifted content (the patient moved between sequences): estimate an integer translation with
  ``skimage.registration.phase_cross_correlation`` between the two volumes' *foreground masks* (> 5 % of the
  volume's 99th percentile). Masks are compared rather than intensities because T1/T2/FLAIR contrasts differ
  while the head outline does not. Shifts under one voxel, or larger than ``MAX_SHIFT_FRACTION`` of an axis
  (implausible for one session — more likely a failed estimate), are not applied.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

MAX_SHIFT_FRACTION = 0.25


def same_grid(shape_a, affine_a, shape_b, affine_b, atol: float = 1e-3) -> bool:
    return tuple(shape_a) == tuple(shape_b) and np.allclose(affine_a, affine_b, atol=atol)


def resample_to(volume: np.ndarray, affine: np.ndarray, ref_shape, ref_affine: np.ndarray, order: int = 1) -> np.ndarray:
    """Resample ``volume`` (with ``affine``) onto the reference grid."""
    m = np.linalg.inv(affine) @ ref_affine  # reference voxel → moving voxel
    out = ndimage.affine_transform(volume.astype(np.float32), m[:3, :3], offset=m[:3, 3], output_shape=tuple(ref_shape),
                                   order=order, mode="constant", cval=0.0)
    return out


def _foreground(v: np.ndarray) -> np.ndarray:
    hi = float(np.percentile(v, 99))
    return (v > 0.05 * hi).astype(np.float32) if hi > 0 else np.zeros_like(v, dtype=np.float32)


def estimate_shift(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Integer voxel shift that moves ``moving`` onto ``reference`` (zeros when not trustworthy)."""
    shift, _, _ = phase_cross_correlation(_foreground(reference), _foreground(moving), upsample_factor=1)
    shift = np.asarray(shift, dtype=float)
    if np.all(np.abs(shift) < 1) or np.any(np.abs(shift) > MAX_SHIFT_FRACTION * np.asarray(reference.shape)):
        return np.zeros_like(shift)
    return shift


def align_to(reference: np.ndarray, ref_affine: np.ndarray, moving: np.ndarray, affine: np.ndarray,
             order: int = 1) -> tuple[np.ndarray, dict]:
    """Bring ``moving`` onto the reference grid; returns the volume and what was done (for the record)."""
    if not same_grid(reference.shape, ref_affine, moving.shape, affine):
        return resample_to(moving, affine, reference.shape, ref_affine, order=order), {"method": "affine_resample"}
    shift = estimate_shift(reference, moving)
    if not shift.any():
        return moving, {"method": "none"}
    moved = ndimage.shift(moving, shift, order=0, mode="constant", cval=0.0)  # integer shift: exact copy
    return moved, {"method": "phase_cross_correlation", "shift_vox": [int(s) for s in shift]}
