"""Voxel order: nibabel's RAS+ reorientation and the radiological display view, both invertible.

Ingest slices every volume axially in the display view; the serve codec must hand the model the same arrays
(same orientation), then put the result back in the file's own voxel order.
"""
from __future__ import annotations

import nibabel as nib
import numpy as np

_RAS = nib.orientations.axcodes2ornt("RAS")


def to_display(v: np.ndarray) -> np.ndarray:
    """RAS (…, x, y, z) → (…, rows=anterior→posterior, cols=x, z): the radiological axial view."""
    return np.flip(np.swapaxes(v, -3, -2), axis=-3)


def from_display(v: np.ndarray) -> np.ndarray:
    """Inverse of ``to_display``."""
    return np.swapaxes(np.flip(v, axis=-3), -3, -2)


def ras_orientation(affine: np.ndarray) -> np.ndarray | None:
    """nibabel orientation (rows: [target axis, flip]) of the 3 voxel axes, or None for a degenerate affine."""
    ornt = nib.io_orientation(np.asarray(affine, dtype=np.float64))
    return None if np.isnan(ornt).any() else ornt


def to_ras(data: np.ndarray, ornt: np.ndarray | None) -> np.ndarray:
    """Voxel axes 0..2 reordered/flipped to RAS+ (what ``nib.as_closest_canonical`` does); extra axes kept."""
    return data if ornt is None else nib.orientations.apply_orientation(data, nib.orientations.ornt_transform(ornt, _RAS))


def from_ras(data: np.ndarray, ornt: np.ndarray | None) -> np.ndarray:
    """Inverse of ``to_ras``."""
    return data if ornt is None else nib.orientations.apply_orientation(data, nib.orientations.ornt_transform(_RAS, ornt))


def in_plane_axes(ornt: np.ndarray | None) -> tuple[int, int]:
    """The file's voxel axes that become RAS x and y (the axial plane a model enhances)."""
    if ornt is None:
        return (0, 1)
    return tuple(int(i) for i in np.argsort(ornt[:, 0])[:2])
