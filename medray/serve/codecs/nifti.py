"""NIfTI in/out (plain or gzipped, NIfTI-1 or -2). A volume is read the way ingest reads it for training — RAS+
reoriented, axial slices in the radiological display view, modality guessed, the shared intensity normalisation
(per channel for 4-D) — and enhanced slice by slice. The result is put back in the file's own voxel order; the
output affine is the input affine with voxel size divided by the scale along the two in-plane axes, and the
origin moved so the new voxel grid covers exactly the same field of view."""
from __future__ import annotations

import gzip
import math
import struct
import zlib

import nibabel as nib
import numpy as np

from medray.config import InputError
from medray.imaging.nifti import guess_modality
from medray.imaging.normalise import fit_intensity
from medray.imaging.orient import from_display, from_ras, in_plane_axes, ras_orientation, to_display, to_ras
from medray.imaging.writeback import write_back
from medray.serve.codecs.types import CodecLimits, Decoded

# vox_offset may exceed the body by this much at most (header extensions of a gzipped file compress): a
# gzipped body declaring vox_offset 2**31 would otherwise inflate 2 GiB before the data even starts.
VOX_OFFSET_SLACK = 1 << 20

# NIfTI datatype code → bits per voxel, for the types the service accepts (no complex / RGB).
_BITPIX = {2: 8, 4: 16, 8: 32, 16: 32, 64: 64, 256: 8, 512: 16, 768: 32, 1024: 64, 1280: 64}


def _parse_header(head: bytes) -> dict:
    """Version, dims, datatype and vox_offset straight from the header bytes (no allocation by nibabel)."""
    if len(head) < 348:
        raise InputError("truncated", f"NIfTI header needs ≥348 bytes, got {len(head)}")
    for end in "<>":
        size = struct.unpack(end + "i", head[:4])[0]
        if size in (348, 540):
            break
    else:
        raise InputError("not_nifti", "sizeof_hdr is neither 348 (NIfTI-1) nor 540 (NIfTI-2)")
    if size == 348:
        dims = struct.unpack(end + "8h", head[40:56])
        datatype, bitpix = struct.unpack(end + "2h", head[70:74])
        vox_offset = struct.unpack(end + "f", head[108:112])[0]
        magic = head[344:348]
    else:
        if len(head) < 540:
            raise InputError("truncated", f"NIfTI-2 header needs 540 bytes, got {len(head)}")
        datatype, bitpix = struct.unpack(end + "2h", head[12:16])
        dims = struct.unpack(end + "8q", head[16:80])
        vox_offset = struct.unpack(end + "q", head[168:176])[0]
        magic = head[4:8]
    if magic[:3] not in (b"n+1", b"n+2"):
        raise InputError("unsupported", f"NIfTI magic {magic!r}: only single-file .nii (n+1/n+2) is accepted")
    ndim = dims[0]
    if not 2 <= ndim <= 4:
        raise InputError("unsupported", f"NIfTI with {ndim} dimensions; accepted: 2-D, 3-D, or 4-D (4th axis = channels)")
    shape = tuple(int(d) for d in dims[1: ndim + 1])
    if any(d < 1 for d in shape):
        raise InputError("not_image", f"NIfTI dims {shape} must all be ≥ 1")
    if datatype not in _BITPIX:
        raise InputError("unsupported", f"NIfTI datatype {datatype}; accepted codes {sorted(_BITPIX)}")
    if bitpix != _BITPIX[datatype]:
        raise InputError("corrupt", f"NIfTI bitpix {bitpix} does not match datatype {datatype}")
    if not (0 <= vox_offset < 2**31):
        raise InputError("corrupt", f"NIfTI vox_offset {vox_offset} is invalid")
    return {"version": 1 if size == 348 else 2, "shape": shape, "bitpix": bitpix, "vox_offset": int(vox_offset)}


def _check_declared(hdr: dict, limits: CodecLimits, body_len: int) -> int:
    """Sides, voxel count and data offset from the header, before any data is read; → the voxel count."""
    if hdr["vox_offset"] > body_len + VOX_OFFSET_SLACK:
        raise InputError("corrupt", f"NIfTI vox_offset {hdr['vox_offset']} lies beyond a {body_len}-byte body")
    limits.check_sides(hdr["shape"][:3], "NIfTI")
    n = math.prod(hdr["shape"])  # Python ints: a NIfTI-2 product of int64 dims cannot wrap
    limits.check_voxels(n, "NIfTI")
    return n


def _bounded_gunzip(body: bytes, head_bytes: int, limits: CodecLimits) -> bytes:
    """Decompress only as much as the header says the file holds, so a gzip bomb stops at the limit."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = d.decompress(body, head_bytes)
        hdr = _parse_header(raw)
        _check_declared(hdr, limits, len(body))
        need = hdr["vox_offset"] + math.prod(hdr["shape"]) * hdr["bitpix"] // 8
        chunks = [raw]
        got = len(raw)
        tail = d.unconsumed_tail
        while got < need and tail:
            part = d.decompress(tail, need - got)
            chunks.append(part)
            got += len(part)
            tail = d.unconsumed_tail
        if got < need and not d.eof:
            part = d.decompress(b"", need - got)
            chunks.append(part)
            got += len(part)
    except zlib.error as e:
        raise InputError("corrupt", f"gzip stream is broken: {e}") from None
    return b"".join(chunks)


def decode_nifti(body: bytes, limits: CodecLimits, media_type: str) -> Decoded:
    gz = body[:2] == b"\x1f\x8b"
    if media_type == "application/gzip" and not gz:
        raise InputError("not_gzip", "Content-Type application/gzip but the body is not gzip")
    raw = _bounded_gunzip(body, 540, limits) if gz else body
    hdr = _parse_header(raw[:540])
    n_vox = _check_declared(hdr, limits, len(body))
    need = hdr["vox_offset"] + n_vox * hdr["bitpix"] // 8
    if len(raw) < need:
        raise InputError("truncated", f"NIfTI data holds {len(raw)} bytes, header needs {need}")
    cls = nib.Nifti1Image if hdr["version"] == 1 else nib.Nifti2Image
    try:
        img = cls.from_bytes(raw[:need])
        data = np.asarray(img.get_fdata(dtype=np.float32), dtype=np.float32)
    except Exception as e:  # nibabel raises HeaderDataError, ValueError, struct.error...
        raise InputError("corrupt", f"NIfTI could not be read: {type(e).__name__}: {e}") from None
    if np.iscomplexobj(data):
        raise InputError("unsupported", "complex-valued NIfTI")
    ndim = len(hdr["shape"])
    vol = np.nan_to_num(data.reshape(data.shape + (1,) * (4 - ndim)), nan=0.0, posinf=0.0, neginf=0.0)  # (I, J, K, C)
    ornt = ras_orientation(img.affine) if ndim > 2 else None  # a 2-D image is its own slice plane
    # (C, rows, cols, K) in the display view → [K, C, rows, cols]: the arrays ingest writes to shards
    raw_slices = np.ascontiguousarray(to_display(np.moveaxis(to_ras(vol, ornt), 3, 0)).transpose(3, 0, 1, 2))
    intensities = []
    for c in range(raw_slices.shape[1]):
        chan = raw_slices[:, c]
        intensities.append(fit_intensity(chan, guess_modality(chan), limits.ct_window))
    x = np.stack([it.forward(raw_slices[:, c]) for c, it in enumerate(intensities)], axis=1)
    meta = {"img": img, "ndim": ndim, "ornt": ornt, "intensities": intensities, "raw": raw_slices, "gz": gz}
    return Decoded("nifti", x, media_type, meta=meta)


def upscaled_affine(affine: np.ndarray, scale: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Voxel i' of the s-times finer grid sits at old voxel ((i'+0.5)/s − 0.5) along each of ``axes``: scale
    those columns by 1/s and shift the origin by (1/s − 1)/2 old voxels along each."""
    m = np.eye(4)
    for a in axes:
        m[a, a] = 1.0 / scale
        m[a, 3] = (1.0 / scale - 1.0) / 2.0
    return np.asarray(affine, dtype=np.float64) @ m


def encode_nifti(dec: Decoded, out: np.ndarray, scale: int, description: str) -> bytes:
    """``out`` is [K, C, rows*s, cols*s] in [0, 1] (display view) → same NIfTI version, float32, the input's
    intensity units and voxel order; outside the model's range the bicubic upsample is kept (``imaging.writeback``)."""
    meta = dec.meta
    img, ornt = meta["img"], meta["ornt"]
    vals = np.stack([write_back(out[:, c], meta["raw"][:, c], it) for c, it in enumerate(meta["intensities"])],
                    axis=1).astype(np.float32)  # [K, C, rows*s, cols*s]
    vol = np.moveaxis(from_display(vals.transpose(1, 2, 3, 0)), 0, 3)  # (x*s, y*s, K, C) in RAS
    vol = from_ras(vol, ornt)
    vol = vol.reshape(vol.shape[: meta["ndim"]]) if meta["ndim"] < 4 else vol
    axes = in_plane_axes(ornt)
    affine = upscaled_affine(img.affine, scale, axes)
    hdr = img.header.copy()
    hdr.set_data_dtype(np.float32)
    hdr.set_slope_inter(None, None)
    hdr["descrip"] = description.encode("ascii", "replace")[:79]
    new = type(img)(vol, affine, header=hdr)
    _, scode = img.header.get_sform(coded=True)
    _, qcode = img.header.get_qform(coded=True)
    new.set_sform(affine, code=int(scode) if scode else 2)
    new.set_qform(affine, code=int(qcode) if qcode else 0)
    zooms = list(img.header.get_zooms())
    for a in axes:
        zooms[a] /= scale
    new.header.set_zooms(zooms)
    raw = new.to_bytes()
    return gzip.compress(raw, compresslevel=1) if meta["gz"] else raw
