"""Seeded mutators that turn real scans into malformed ones, for benchmarks/fuzz_inputs.py and
tests/test_fuzz_subset.py.

Seeds are real inputs shipped in PyPI packages: pydicom's CT_small.dcm and MR_small.dcm, a cropped NIfTI of
nilearn's MNI152 2 mm template, and a 16-bit PNG of its middle slice. Every mutant is a pure function of
(seed, index): ``mutant(i)`` rebuilds input ``i`` alone, so a failure in a 10,000-input run is replayed by index.

Mutators know the formats' layouts, so they break what parsers trust: DICOM element length fields and the
Rows/Columns/BitsAllocated values, the NIfTI-1 348-byte header (dim[], datatype, bitpix, vox_offset, pixdim,
scl_slope, magic), PNG chunks (CRC, IHDR size/bit depth/colour type, chunk length, truncated or garbage IDAT,
a decompression bomb) — plus generic bit flips, truncations, splices and random bytes.
"""
from __future__ import annotations

import gzip
import io
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

MEDIA = {"dicom": "application/dicom", "nifti": "application/x-nifti", "nifti_gz": "application/gzip",
         "png": "image/png"}
SUFFIX = {"dicom": ".dcm", "nifti": ".nii", "nifti_gz": ".nii.gz", "png": ".png"}
INGESTIBLE = ("dicom", "nifti", "nifti_gz")  # ingest does not read PNG


@dataclass(frozen=True)
class Seed:
    name: str
    kind: str  # dicom | nifti | png
    data: bytes


@dataclass(frozen=True)
class Mutant:
    index: int
    seed: str
    kind: str  # how it is named/sent: dicom | nifti | nifti_gz | png
    mutators: tuple[str, ...]  # () for a valid (unmutated) input
    data: bytes

    @property
    def valid(self) -> bool:
        return not self.mutators

    @property
    def media_type(self) -> str:
        return MEDIA[self.kind]

    @property
    def suffix(self) -> str:
        return SUFFIX[self.kind]


# ---------------------------------------------------------------- seeds (real files)

@lru_cache(maxsize=1)
def load_seeds() -> tuple[Seed, ...]:
    import nibabel as nib
    import pydicom
    from nilearn.datasets import load_mni152_template
    from PIL import Image

    files = Path(pydicom.__file__).parent / "data" / "test_files"  # on disk in the wheel; never downloads
    seeds = [Seed(n.split(".")[0], "dicom", (files / n).read_bytes()) for n in ("CT_small.dcm", "MR_small.dcm")]
    mni = load_mni152_template(resolution=2)
    raw = mni.get_fdata()[20:80, 20:100, 44:47]  # 60×80×3 axial crop through the brain
    vol = np.rint(raw / max(raw.max(), 1e-6) * 1000).astype(np.int16)
    affine = mni.affine.copy()
    affine[:3, 3] += affine[:3, :3] @ np.array([20, 20, 44])
    img = nib.Nifti1Image(vol, affine)
    img.set_qform(affine, code=1)
    seeds.append(Seed("MNI152_2mm_crop", "nifti", img.to_bytes()))
    mid = vol[:, :, 1].astype(np.float64)
    arr16 = np.rint(mid / max(mid.max(), 1) * 65535).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr16).save(buf, format="PNG")
    seeds.append(Seed("MNI152_slice16", "png", buf.getvalue()))
    return tuple(seeds)


# ---------------------------------------------------------------- generic byte mutators

def bit_flips(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 17))):
        i = int(rng.integers(len(b)))
        b[i] ^= 1 << int(rng.integers(8))
    return bytes(b)


def interesting_bytes(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(len(b)))
        b[i] = int(rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01]))
    return bytes(b)


def truncate(rng, data: bytes) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def splice(rng, data: bytes) -> bytes:
    """Delete, duplicate or insert random bytes in a run somewhere in the middle."""
    i = int(rng.integers(len(data)))
    n = int(rng.integers(1, 257))
    op = int(rng.integers(3))
    if op == 0:
        return data[:i] + data[i + n:]
    if op == 1:
        return data[:i] + data[i:i + n] * 2 + data[i + n:]
    return data[:i] + rng.bytes(n) + data[i:]


def random_bytes(rng, data: bytes) -> bytes:
    """Random bytes, sometimes behind the format's own magic so the parser gets further."""
    body = rng.bytes(int(rng.integers(0, 4097)))
    keep = int(rng.choice([0, 8, 132, 348]))
    return data[:keep] + body


GENERIC = {"bit_flips": bit_flips, "interesting_bytes": interesting_bytes, "truncate": truncate,
           "splice": splice, "random_bytes": random_bytes}


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


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


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


# ---------------------------------------------------------------- PNG chunks

def png_chunks(data: bytes) -> list[tuple[int, bytes, int, int]]:
    """(offset, type, data_offset, length) per chunk; stops at the first chunk that runs past the end."""
    out, pos = [], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append((pos, data[pos + 4:pos + 8], pos + 8, length))
        pos += 12 + length
    return out


def _chunk(ctype: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(ctype + body) if crc is None else crc
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc & 0xFFFFFFFF)


def _replace_chunk(data: bytes, which: bytes, new: Callable[[bytes], bytes]) -> bytes:
    for off, ctype, doff, length in png_chunks(data):
        if ctype == which:
            return data[:off] + new(data[doff:doff + length]) + data[doff + length + 4:]
    return data


def png_bad_crc(rng, data: bytes) -> bytes:
    chunks = png_chunks(data)
    _, _, doff, length = chunks[int(rng.integers(len(chunks)))]
    return _patch(data, doff + length, ">I", int(rng.integers(0, 2**32)))


def png_ihdr_size(rng, data: bytes) -> bytes:
    """IHDR width/height set to 0, 1, huge or random, with a correct CRC (so the decoder trusts it)."""
    def new(body: bytes) -> bytes:
        w, h = struct.unpack_from(">II", body)
        pick = lambda: int(rng.choice([0, 1, 2**31 - 1, 2**32 - 1, 100_000, int(rng.integers(0, 70_000))]))  # noqa: E731
        w, h = (pick(), h) if rng.random() < 0.4 else (w, pick()) if rng.random() < 0.5 else (pick(), pick())
        return _chunk(b"IHDR", struct.pack(">II", w, h) + body[8:])
    return _replace_chunk(data, b"IHDR", new)


def png_ihdr_depth(rng, data: bytes) -> bytes:
    """Bit depth / colour type / compression / filter / interlace set to illegal or mismatching codes."""
    def new(body: bytes) -> bytes:
        b = bytearray(body)
        field = int(rng.integers(8, 13))
        b[field] = int(rng.choice({8: [0, 1, 2, 3, 4, 5, 7, 9, 32, 255], 9: [1, 2, 3, 4, 5, 6, 7, 255]}.get(
            field, [1, 2, 255])))
        return _chunk(b"IHDR", bytes(b))
    return _replace_chunk(data, b"IHDR", new)


def png_wrong_chunk_length(rng, data: bytes) -> bytes:
    chunks = png_chunks(data)
    off, _, _, length = chunks[int(rng.integers(len(chunks)))]
    return _patch(data, off, ">I", int(rng.choice([0, 1, length + 1, max(length - 1, 0), 2**31 - 1, 2**32 - 1])))


def png_truncated_idat(rng, data: bytes) -> bytes:
    """IDAT cut short, with length and CRC fixed up half the time (then only zlib notices)."""
    fix = rng.random() < 0.5

    def new(body: bytes) -> bytes:
        cut = body[: int(rng.integers(0, max(len(body), 1)))]
        return _chunk(b"IDAT", cut) if fix else struct.pack(">I", len(body)) + b"IDAT" + cut
    out = _replace_chunk(data, b"IDAT", new)
    return out if fix else out[: len(out) - int(rng.integers(0, 20))]


def png_idat_garbage(rng, data: bytes) -> bytes:
    """IDAT replaced by valid-CRC garbage, a raw zlib stream of the wrong size, or a decompression bomb."""
    kind = int(rng.integers(3))
    if kind == 0:
        payload = rng.bytes(int(rng.integers(1, 2048)))
    elif kind == 1:
        payload = zlib.compress(rng.bytes(int(rng.integers(1, 20_000))))
    else:  # ~60 MB of zeros in ~60 kB: IHDR says 60×80, the stream says otherwise
        payload = _BOMB
    return _replace_chunk(data, b"IDAT", lambda _b: _chunk(b"IDAT", payload))


_BOMB = zlib.compress(b"\0" * (60 * 2**20), 9)

PNG = {"png_bad_crc": png_bad_crc, "png_ihdr_size": png_ihdr_size, "png_ihdr_depth": png_ihdr_depth,
       "png_wrong_chunk_length": png_wrong_chunk_length, "png_truncated_idat": png_truncated_idat,
       "png_idat_garbage": png_idat_garbage}

BY_KIND = {"dicom": DICOM, "nifti": NIFTI, "png": PNG}
ALL_MUTATORS = sorted({**GENERIC, **DICOM, **NIFTI, **PNG})


# ---------------------------------------------------------------- generation

def mutant(index: int, seed: int = 0, kinds: tuple[str, ...] = ("dicom", "nifti", "png"),
           valid_every: int = 20) -> Mutant:
    """Input ``index`` of the stream ``seed``: every ``valid_every``-th is an unmutated seed (valid input mixed
    in); the rest get one format-aware or generic mutation (a second one 20 % of the time). NIfTI inputs
    are gzipped a quarter of the time (after mutation, so the gzip layer is intact and the inner file is bad)."""
    rng = np.random.default_rng([seed, index])
    kind = kinds[int(rng.integers(len(kinds)))]  # formats equally often, whatever the number of seeds each
    pool = [s for s in load_seeds() if s.kind == kind]
    src = pool[int(rng.integers(len(pool)))]
    data, names = src.data, []
    if not (valid_every and index % valid_every == 0):
        rounds = 2 if rng.random() < 0.2 else 1
        for _ in range(rounds):
            table = BY_KIND[src.kind] if rng.random() < 0.7 else GENERIC
            name = sorted(table)[int(rng.integers(len(table)))]
            try:
                data = table[name](rng, data)
            except (IndexError, ValueError, struct.error):  # an earlier round broke the structure it needs
                name, data = "bit_flips", bit_flips(rng, data) if data else random_bytes(rng, src.data)
            names.append(name)
    kind = src.kind
    if kind == "nifti" and rng.random() < 0.25:
        kind, data = "nifti_gz", gzip.compress(data, compresslevel=1, mtime=0)
    return Mutant(index, src.name, kind, tuple(names), data)


def mutants(n: int, seed: int = 0, kinds: tuple[str, ...] = ("dicom", "nifti", "png"), start: int = 0,
            valid_every: int = 20):
    for i in range(start, start + n):
        yield mutant(i, seed, kinds, valid_every)
