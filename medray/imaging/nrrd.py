"""NRRD (``.nrrd``, attached header, any encoding pynrrd reads) → a 3-D float32 volume in RAS+, like ``nifti.load_volume``.

Accepts a path or the file's bytes (e.g. a member read straight out of a tar archive, nothing extracted). The header
is checked before the data is decoded: more than ``MAX_VOXELS`` voxels → ``too_large``; a 4-D or vector-valued
image → ``unsupported_4d``. The voxel → world matrix comes from ``space directions`` + ``space origin``; NRRD spaces
are named (``left-posterior-superior`` …), and the matrix is turned to RAS world coordinates so that nibabel's
``as_closest_canonical`` orders the axes exactly as for a NIfTI file. Without a space the axes are taken as RAS
with unit (or ``spacings``) spacing. Detached headers (``.nhdr`` + data file) are refused: medray reads one file.
"""
from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np

from medray.config import InputError
from medray.imaging.nifti import MAX_VOXELS

# world axis signs that turn each named NRRD space into RAS (right, anterior, superior)
_TO_RAS = {
    "right-anterior-superior": (1, 1, 1), "ras": (1, 1, 1), "scanner-xyz": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1), "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1), "lps": (-1, -1, 1),
}


def read_nrrd_header(fh) -> dict:
    try:
        header = nrrd.read_header(fh)
    except (nrrd.NRRDError, ValueError, KeyError, TypeError, UnicodeError) as e:  # pynrrd raises ValueError on garbage
        raise InputError("not_nrrd", f"{type(e).__name__}: {str(e)[:140]}") from e
    if "data file" in header or "datafile" in header:
        raise InputError("unsupported_format", "detached NRRD header (.nhdr): pass the single-file .nrrd")
    sizes = [int(s) for s in header.get("sizes", [])]
    if len(sizes) == 4 and sizes[-1] == 1:
        sizes = sizes[:3]
    if len(sizes) != 3:
        raise InputError("unsupported_4d", f"sizes {sizes}: only 3-D scalar NRRD volumes are read")
    if min(sizes) < 1:
        raise InputError("bad_geometry", f"sizes {sizes}")
    n = int(np.prod(sizes, dtype=np.int64))
    if n > MAX_VOXELS:
        raise InputError("too_large", f"declared sizes {sizes} = {n} voxels exceeds {MAX_VOXELS}")
    return header


def nrrd_affine(header: dict) -> np.ndarray:
    """4×4 voxel (i, j, k) → RAS mm from ``space directions`` / ``space origin`` (or ``spacings``)."""
    aff = np.eye(4)
    dirs = header.get("space directions")
    if dirs is not None:
        d = np.asarray([row for row in dirs if row is not None and not np.all(np.isnan(row))], dtype=np.float64)
        if d.shape != (3, 3):
            raise InputError("bad_geometry", f"space directions {d.tolist()} are not three 3-vectors")
        aff[:3, :3] = d.T  # pynrrd gives one row per axis; the affine holds one column per axis
        origin = header.get("space origin")
        if origin is not None:
            aff[:3, 3] = np.asarray(origin, dtype=np.float64)
        space = str(header.get("space", "right-anterior-superior")).lower()
        if space not in _TO_RAS:
            raise InputError("bad_geometry", f"NRRD space {space!r} is not one of {sorted(_TO_RAS)}")
        aff = np.diag(list(_TO_RAS[space]) + [1]) @ aff
    else:
        spacings = header.get("spacings")
        if spacings is not None:
            aff[:3, :3] = np.diag([float(s) if np.isfinite(s) else 1.0 for s in spacings[:3]])
    if abs(np.linalg.det(aff[:3, :3])) < 1e-9:
        raise InputError("bad_geometry", "singular NRRD voxel-to-world matrix")
    return aff


def load_nrrd(source: str | Path | bytes) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """→ (volume (x, y, z) float32 in RAS+, affine 4×4, voxel spacing mm), like ``nifti.load_volume``."""
    fh = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with fh:
        header = read_nrrd_header(fh)
        try:
            data = nrrd.read_data(header, fh, filename=None if isinstance(source, (bytes, bytearray)) else str(source))
        except (nrrd.NRRDError, ValueError, OSError, EOFError) as e:
            raise InputError("truncated", f"{type(e).__name__}: {str(e)[:120]}") from e
    data = np.asarray(data).reshape(data.shape[:3])
    if np.iscomplexobj(data):
        raise InputError("not_image", "complex-valued data")
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data, dtype=np.float32), nrrd_affine(header)))
    vol = np.nan_to_num(np.asarray(img.dataobj, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return vol, np.asarray(img.affine, dtype=np.float64), zooms


def nrrd_to_nifti(source: str | Path | bytes, dtype=None) -> nib.Nifti1Image:
    """The NRRD volume as a RAS+ NIfTI image (``dtype`` e.g. ``np.int16`` to keep HU / labels compact)."""
    vol, aff, _ = load_nrrd(source)
    if dtype is not None:
        vol = np.rint(vol).astype(dtype)
    img = nib.Nifti1Image(vol, aff)
    img.header.set_xyzt_units("mm")
    return img
