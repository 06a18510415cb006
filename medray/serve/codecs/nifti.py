"""NIfTI in/out (plain or gzipped, NIfTI-1 or -2). A volume is enhanced slice by slice in the (i, j) plane;
the output affine is the input affine with voxel size divided by the scale in i and j, and the origin moved
so the new voxel grid covers exactly the same field of view."""
from __future__ import annotations

import gzip
import struct
import zlib

import nibabel as nib
import numpy as np

from medray.config import InputError
from medray.serve.codecs.types import CodecLimits, Decoded, denormalise, normalise

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


def _bounded_gunzip(body: bytes, head_bytes: int, limits: CodecLimits) -> bytes:
    """Decompress only as much as the header says the file holds, so a gzip bomb stops at the limit."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = d.decompress(body, head_bytes)
        hdr = _parse_header(raw)
        limits.check_voxels(int(np.prod(hdr["shape"], dtype=np.int64)), "NIfTI")
        need = hdr["vox_offset"] + int(np.prod(hdr["shape"], dtype=np.int64)) * hdr["bitpix"] // 8
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
    n_vox = int(np.prod(hdr["shape"], dtype=np.int64))
    limits.check_voxels(n_vox, "NIfTI")
    need = hdr["vox_offset"] + n_vox * hdr["bitpix"] // 8
    if len(raw) < need:
        raise InputError("truncated", f"NIfTI data holds {len(raw)} bytes, header needs {need}")
    cls = nib.Nifti1Image if hdr["version"] == 1 else nib.Nifti2Image
    try:
        img = cls.from_bytes(raw[:need])
        data = np.asanyarray(img.dataobj, dtype=np.float64)
    except Exception as e:  # nibabel raises HeaderDataError, ValueError, struct.error...
        raise InputError("corrupt", f"NIfTI could not be read: {type(e).__name__}: {e}") from None
    ndim = len(hdr["shape"])
    vol = data.reshape(data.shape + (1,) * (4 - ndim))  # (I, J, K, C)
    x, lo, hi = normalise(vol)
    slices = np.ascontiguousarray(x.transpose(2, 3, 0, 1))  # [K, C, I, J]
    meta = {"img": img, "ndim": ndim, "lo": lo, "hi": hi, "gz": gz}
    return Decoded("nifti", slices, media_type, meta=meta)


def upscaled_affine(affine: np.ndarray, scale: int) -> np.ndarray:
    """Voxel (i', j') of the s-times finer grid sits at old voxel ((i'+0.5)/s − 0.5): scale the first two
    columns by 1/s and shift the origin by (1/s − 1)/2 old voxels along each."""
    m = np.eye(4)
    m[0, 0] = m[1, 1] = 1.0 / scale
    m[0, 3] = m[1, 3] = (1.0 / scale - 1.0) / 2.0
    return np.asarray(affine, dtype=np.float64) @ m


def encode_nifti(dec: Decoded, out: np.ndarray, scale: int, description: str) -> bytes:
    """``out`` is [K, C, I*s, J*s] in [0, 1] → same NIfTI version, float32, original intensity range."""
    meta = dec.meta
    img = meta["img"]
    vol = denormalise(out, meta["lo"], meta["hi"]).astype(np.float32).transpose(2, 3, 0, 1)  # (I*s, J*s, K, C)
    vol = vol.reshape(vol.shape[: meta["ndim"]]) if meta["ndim"] < 4 else vol
    affine = upscaled_affine(img.affine, scale)
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
    zooms[0] /= scale
    zooms[1] /= scale
    new.header.set_zooms(zooms)
    raw = new.to_bytes()
    return gzip.compress(raw, compresslevel=1) if meta["gz"] else raw
