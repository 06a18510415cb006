"""NIfTI (and every volume format nibabel reads) → a 3-D float32 volume in RAS+ orientation.

Checks happen on the header first, so a file declaring absurd dimensions is refused without allocating:
more than ``MAX_VOXELS`` voxels → ``too_large``; an axial plane beyond ``imaging.geometry``'s per-side or
aspect limit → ``too_large`` / ``bad_geometry``. 4-D data (fMRI, DTI) with more than one volume is **refused**
(``unsupported_4d``) rather than split: its volumes are not independent anatomical scans and would flood the
shards with near-duplicate slices; trailing singleton dimensions are squeezed. Data shorter than the header
declares → ``truncated``. NIfTI carries no modality: a volume with at least 5 % of its voxels at or below
−900 (air in Hounsfield units, which surrounds every CT patient) is taken to be CT, anything else MR — MR
intensities are arbitrary but processed MR rarely has large strongly negative regions.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from medray.config import InputError
from medray.imaging.geometry import check_plane

MAX_VOXELS = 512 * 512 * 1024  # 1 GiB as float32
CT_AIR_HU = -900.0
CT_AIR_FRACTION = 0.05
VOX_OFFSET_SLACK = 1 << 20  # a (gzipped) file's data cannot start far beyond its size: refuse before seeking there


def load_header(path: str | Path):
    """nibabel image with a validated header (data not read yet), shape squeezed to ≤ 3-D."""
    try:
        img = nib.load(str(path))
    except (nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError) as e:
        raise InputError("not_nifti", str(e).splitlines()[0][:160] if str(e) else type(e).__name__) from e
    except InputError:  # the time limit fired: keep its reason
        raise
    except ModuleNotFoundError as e:  # e.g. MINC2 needs h5py, which medray does not depend on
        raise InputError("unsupported_format", f"reading this format needs the missing module {e.name!r}") from e
    except FileNotFoundError as e:  # the data half of a .hdr/.img or .PAR/.REC pair is missing
        raise InputError("unreadable", f"companion file missing: {Path(e.filename or '').name}") from e
    except Exception as e:  # nibabel raises many types on garbage (HeaderDataError, PARRECError, struct.error…)
        raise InputError("not_nifti", f"{type(e).__name__}: {str(e)[:120]}") from e
    if not hasattr(img, "shape") or not hasattr(img, "affine"):
        raise InputError("not_image", f"{type(img).__name__} is not a volume")
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 3:
        raise InputError("unsupported_4d", f"shape {shape}: 4-D series are refused, ingest one volume per file")
    if len(shape) < 2 or min(shape) < 1:
        raise InputError("bad_geometry", f"shape {shape}")
    n = math.prod(shape)  # Python ints: int64 dims (NIfTI-2) cannot wrap
    if n > MAX_VOXELS:
        raise InputError("too_large", f"declared shape {shape} = {n} voxels exceeds {MAX_VOXELS}")
    rows, cols = _axial_plane(img, shape)
    check_plane(rows, cols, "NIfTI")
    _check_uncompressed_size(path, img, n)
    return img


def _axial_plane(img, shape: tuple[int, ...]) -> tuple[int, int]:
    """The in-plane size of the axial slices ingest cuts (``load_volume`` reorients to RAS+ and slices along S):
    the sides of the two axes that map to R and A. 2-D images and affines without an orientation: the first two."""
    if len(shape) == 3:
        try:
            ornt = nib.io_orientation(np.asarray(img.affine, dtype=np.float64))
            plane = [shape[i] for i in range(3) if ornt[i, 0] in (0, 1)]
            if len(plane) == 2:
                return plane[0], plane[1]
        except (ValueError, TypeError, np.linalg.LinAlgError):
            pass
    return shape[0], shape[1]


def _check_uncompressed_size(path: str | Path, img, n_voxels: int) -> None:
    """An uncompressed single-file NIfTI shorter than its header declares is truncated: say so from the file size
    instead of reading (and zero-filling) gigabytes first. Compressed files are caught while decompressing."""
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        return
    try:
        offset = int(getattr(img.dataobj, "offset", 0))  # img.header is a copy with vox_offset reset
        itemsize = np.dtype(img.header.get_data_dtype()).itemsize
    except (TypeError, ValueError, OverflowError):
        return  # nibabel refuses such headers itself when reading the data
    size = Path(path).stat().st_size
    if offset > size + VOX_OFFSET_SLACK:
        raise InputError("truncated", f"vox_offset {offset} lies beyond the {size}-byte file")
    if not str(path).endswith(".nii"):
        return
    if offset + n_voxels * itemsize > size:
        raise InputError("truncated", f"header declares {offset + n_voxels * itemsize} bytes, the file has {size}")


def load_volume(path: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """→ (volume (x, y, z) float32 in RAS+, affine 4×4, voxel spacing mm)."""
    img = load_header(path)
    try:
        if len(img.shape) > 3:  # trailing singleton dims (4-D with one volume)
            img = nib.squeeze_image(img)
        if len(img.shape) == 2:
            img = nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine)
        img = nib.as_closest_canonical(img) if isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) else img
        data = np.asarray(img.get_fdata(dtype=np.float32), dtype=np.float32)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise InputError("truncated", f"{type(e).__name__}: {str(e)[:120]}") from e
    except FileNotFoundError as e:
        raise InputError("unreadable", f"companion file missing: {Path(e.filename or '').name}") from e
    except (ValueError, OSError) as e:
        msg = str(e)
        reason = "truncated" if ("Expected" in msg or "bytes" in msg or "end of" in msg.lower()) else "not_nifti"
        raise InputError(reason, msg.splitlines()[0][:160] if msg else type(e).__name__) from e
    if np.iscomplexobj(data):
        raise InputError("not_image", "complex-valued data")
    data = np.nan_to_num(data.reshape(data.shape[:3]), nan=0.0, posinf=0.0, neginf=0.0)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    zooms = zooms + (1.0,) * (3 - len(zooms))
    return data, np.asarray(img.affine, dtype=np.float64), zooms


def guess_modality(volume: np.ndarray) -> str:
    """CT when at least ``CT_AIR_FRACTION`` of the voxels are air in HU (≤ ``CT_AIR_HU``), else MR."""
    return "CT" if float((volume <= CT_AIR_HU).mean()) >= CT_AIR_FRACTION else "MR"
