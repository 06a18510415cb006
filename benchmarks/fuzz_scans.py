"""Format-aware mutators of DICOM (explicit VR little endian: element length fields, Rows/Columns/BitsAllocated
values, VRs, truncated pixel data) and of the NIfTI-1 348-byte header (dim[], datatype, bitpix, vox_offset,
pixdim, scl_slope, magic): they break what the parsers trust."""
from __future__ import annotations

import struct

import numpy as np

from benchmarks.fuzz_bytes import bit_flips, patch as _patch

# ---------------------------------------------------------------- DICOM (explicit VR little endian)

_LONG_VR = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}


def dicom_elements(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """Top-level elements after the preamble: (tag, vr_offset, length_offset, length_size, value_offset).
    Stops at an undefined length (a sequence we do not descend into) or at the end."""
    out, pos = [], 132
    while pos + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        vr = data[pos + 4:pos + 6]
        if vr in _LONG_VR:
            (length,), loff, lsize, voff = struct.unpack_from("<I", data, pos + 8), pos + 8, 4, pos + 12
        else:
            (length,), loff, lsize, voff = struct.unpack_from("<H", data, pos + 6), pos + 6, 2, pos + 8
        out.append(((group << 16) | elem, pos + 4, loff, lsize, voff))
        if length == 0xFFFFFFFF:
            break
        pos = voff + length
    return out


def dicom_wrong_length(rng, data: bytes) -> bytes:
    """Patch the length field of one element (Pixel Data half the time) to a wrong value."""
    els = dicom_elements(data)
    pixel = [e for e in els if e[0] == 0x7FE00010]
    tag, _, loff, lsize, voff = pixel[0] if pixel and rng.random() < 0.5 else els[int(rng.integers(len(els)))]
    top = 0xFFFF if lsize == 2 else 0xFFFFFFFF
    (cur,) = struct.unpack_from("<H" if lsize == 2 else "<I", data, loff)
    new = int(rng.choice([0, 1, cur + 1, max(cur - 1, 0), cur * 2, top, top - 1, int(rng.integers(0, top))]))
    return _patch(data, loff, "<H" if lsize == 2 else "<I", min(new, top))


def dicom_bogus_value(rng, data: bytes) -> bytes:
    """Rows/Columns/BitsAllocated/BitsStored/SamplesPerPixel/PixelRepresentation set to nonsense (length kept)."""
    targets = {0x00280010, 0x00280011, 0x00280100, 0x00280101, 0x00280002, 0x00280103}
    els = [e for e in dicom_elements(data) if e[0] in targets]
    if not els:
        return bit_flips(rng, data)
    _, _, _, _, voff = els[int(rng.integers(len(els)))]
    return _patch(data, voff, "<H", int(rng.choice([0, 1, 3, 7, 9, 33, 64, 4096, 32767, 65535])))


def dicom_wrong_vr(rng, data: bytes) -> bytes:
    els = dicom_elements(data)
    _, vroff, _, _, _ = els[int(rng.integers(len(els)))]
    vr = bytes(rng.choice(list(b"ABOSUQWXZ"), 2).tolist()) if rng.random() < 0.7 else rng.bytes(2)
    return data[:vroff] + vr + data[vroff + 2:]


def dicom_truncate_pixels(rng, data: bytes) -> bytes:
    pixel = [e for e in dicom_elements(data) if e[0] == 0x7FE00010]
    start = pixel[0][4] if pixel else 132
    return data[: int(rng.integers(start, len(data)))]


DICOM = {"dicom_wrong_length": dicom_wrong_length, "dicom_bogus_value": dicom_bogus_value,
         "dicom_wrong_vr": dicom_wrong_vr, "dicom_truncate_pixels": dicom_truncate_pixels}


# ---------------------------------------------------------------- NIfTI-1 (348-byte header, little endian)

def nifti_bogus_dims(rng, data: bytes) -> bytes:
    """dim[0] (rank) or one dim[i] set to nonsense, including huge sizes (a memory bomb if trusted)."""
    i = int(rng.integers(0, 8))
    values = [0, -1, 8, 100, 4, 7] if i == 0 else [0, -1, 1, 2, 1000, 32767, -32768, int(rng.integers(-32768, 32768))]
    out = _patch(data, 40 + 2 * i, "<h", int(rng.choice(values)))
    if rng.random() < 0.3:  # all three spatial dims huge: 32767³ voxels declared
        for k in (1, 2, 3):
            out = _patch(out, 40 + 2 * k, "<h", 32767)
    return out


def nifti_bogus_datatype(rng, data: bytes) -> bytes:
    """datatype and/or bitpix set to unknown or mismatching codes (RGB, complex, float128, garbage)."""
    out = data
    if rng.random() < 0.8:
        out = _patch(out, 70, "<h", int(rng.choice([0, 1, 3, 32, 128, 1536, 1792, 2304, 999, -1, 16, 64, 512])))
    if rng.random() < 0.6:
        out = _patch(out, 72, "<h", int(rng.choice([0, 1, 7, 12, 128, 256, -8, 64])))
    return out


def nifti_bogus_vox_offset(rng, data: bytes) -> bytes:
    v = float(rng.choice([0.0, -1.0, 1e9, 3.4e38, np.nan, np.inf, 349.0, 351.5, len(data) - 1.0, len(data) + 1e6]))
    return _patch(data, 108, "<f", v)


def nifti_bogus_scaling(rng, data: bytes) -> bytes:
    """pixdim or scl_slope/scl_inter set to 0, NaN, ±inf or absurd values."""
    bad = float(rng.choice([0.0, -1.0, np.nan, np.inf, -np.inf, 1e38, 1e-38]))
    off = int(rng.choice([76 + 4 * int(rng.integers(0, 8)), 112, 116]))
    return _patch(data, off, "<f", bad)


def nifti_bad_magic_or_size(rng, data: bytes) -> bytes:
    if rng.random() < 0.5:
        return _patch(data, 0, "<i", int(rng.choice([0, 347, 540, 1 << 24, -348])))  # sizeof_hdr (540 = NIfTI-2)
    return data[:344] + rng.choice([b"n+2\0", b"ni1\0", b"\0\0\0\0", b"n+1\xff"]) + data[348:]


NIFTI = {"nifti_bogus_dims": nifti_bogus_dims, "nifti_bogus_datatype": nifti_bogus_datatype,
         "nifti_bogus_vox_offset": nifti_bogus_vox_offset, "nifti_bogus_scaling": nifti_bogus_scaling,
         "nifti_bad_magic_or_size": nifti_bad_magic_or_size}
