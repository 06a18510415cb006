"""InVesalius 3 project (``.inv3``) → its CT volume in HU, RAS+ float32, read in memory (nothing extracted).

An ``.inv3`` file is a gzipped tar holding ``main.plist`` (Apple XML plist: ``matrix`` {dtype, shape, filename},
``spacing``, ``modality``) and the raw voxel matrix it names, ``(slices, rows, cols)`` little-endian. Members are
read with ``tarfile.extractfile`` only, after checking each is a regular file of the size the plist implies, so a
hostile archive can neither write to disk nor make us allocate more than ``MAX_VOXELS``.

Orientation, as InVesalius 3 stores an axial series (checked on ``Cranium.inv3`` by eye: table arc behind the head
at row 0, frontal sinus at the last rows, skull base at slice 0): slice index → superior, row → anterior, column →
patient left (the DICOM column direction). The left-right sense is not recorded in the file and is assumed.
"""
from __future__ import annotations

import plistlib
import tarfile
from pathlib import Path

import nibabel as nib
import numpy as np

from medray.config import InputError
from medray.imaging.nifti import MAX_VOXELS

_DTYPES = {"int16": "<i2", "uint16": "<u2", "int32": "<i4", "float32": "<f4", "uint8": "u1", "int8": "i1"}


def _member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    hits = [m for m in tar.getmembers() if Path(m.name).name == name]
    if len(hits) != 1 or not hits[0].isfile():
        raise InputError("not_invesalius", f"{name!r}: expected one regular file in the archive, found {len(hits)}")
    return hits[0]


def load_inv3(path: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float], dict]:
    """→ (volume (x, y, z) float32 RAS+, affine, spacing mm, header dict with modality/name/window)."""
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise InputError("not_invesalius", f"{type(e).__name__}: {str(e)[:120]}") from e
    with tar:
        try:
            meta = plistlib.loads(tar.extractfile(_member(tar, "main.plist")).read())
            m = meta["matrix"]
            dtype = np.dtype(_DTYPES[str(m["dtype"])])
            shape = tuple(int(s) for s in m["shape"])
            spacing = tuple(float(s) for s in meta["spacing"])
        except (KeyError, TypeError, ValueError, plistlib.InvalidFileException) as e:
            raise InputError("not_invesalius", f"main.plist unreadable: {type(e).__name__} {str(e)[:80]}") from e
        if len(shape) != 3 or min(shape) < 1 or len(spacing) != 3 or min(spacing) <= 0:
            raise InputError("bad_geometry", f"shape {shape}, spacing {spacing}")
        n = int(np.prod(shape, dtype=np.int64))
        if n > MAX_VOXELS:
            raise InputError("too_large", f"shape {shape} = {n} voxels exceeds {MAX_VOXELS}")
        info = _member(tar, Path(str(m["filename"])).name)
        if info.size != n * dtype.itemsize:
            raise InputError("truncated", f"{info.name}: {info.size} bytes, shape {shape} × {dtype} needs {n * dtype.itemsize}")
        raw = np.frombuffer(tar.extractfile(info).read(), dtype=dtype).reshape(shape)
    vol = np.ascontiguousarray(raw.transpose(2, 1, 0), dtype=np.float32)  # (col, row, slice)
    sx, sy, sz = spacing  # col, row, slice
    affine = np.diag([-sx, sy, sz, 1.0])  # col → left (−x), row → anterior (+y), slice → superior (+z)
    img = nib.as_closest_canonical(nib.Nifti1Image(vol, affine))
    header = {k: meta.get(k) for k in ("modality", "name", "window_level", "window_width", "scalar_range")}
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return np.asarray(img.dataobj, dtype=np.float32), np.asarray(img.affine), zooms, header
