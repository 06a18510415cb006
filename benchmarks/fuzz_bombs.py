"""Crafted bombs for benchmarks/fuzz_inputs.py (issue 18): inputs small on the wire that would cost memory,
or stall a stream, if a reader trusted them.

Image bombs (sent to ``POST /v1/enhance`` and, all but the PNG, written into ingest batches):

  deflate_dicom     Deflated Explicit VR LE DICOM whose body inflates to 320 MiB-1 GiB of zeros (in Pixel Data or
                    in a private OB element before it), ≈ 1 kB on the wire per inflated MiB
  nifti_vox_offset  NIfTI whose vox_offset points 128 MiB-1 GiB in (gzipped zeros up to there), or to 2³¹-8 in
                    a body that ends after the header (2³¹-8 rounds to 2³¹ in the float32 field)
  j2k_siz           JPEG 2000 DICOM (32×32 in Rows/Columns) whose codestream SIZ marker declares up to 65535²
  aspect_png        PNG with one side of 65,536 or 2²⁰ pixels (256×65536 as in the issue, 1×2²⁰, 16×65536)
  aspect_dicom      MR DICOM with Rows or Columns 16,384-65,535 and the other side 4-8, real pixel data
  aspect_nifti      NIfTI with one in-plane side 16,384-32,767 (NIfTI-1's int16 dim), real voxel data (gzipped half the time)

Vitals bombs (produced to the vitals topic between valid readings):

  deep_json         ``b"[" * 2000`` and friends: unclosed/closed arrays, nested objects, a FHIR Observation
                    nested thousands deep, a v1 message with a deeply nested field value
  future_ts         readings stamped 9999-12-31, a day or an hour ahead (v1 and FHIR Observation)

Each bomb is a pure function of (seed, index), like the mutants, so a failure is replayed by index; the
class cycles with the index so any run of len(classes) inputs holds one of each.
"""
from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

from benchmarks.fuzz_seeds import Mutant

MIB = 1 << 20
IMAGE_BOMBS = ("deflate_dicom", "nifti_vox_offset", "j2k_siz", "aspect_png", "aspect_dicom", "aspect_nifti")
INGEST_BOMBS = tuple(b for b in IMAGE_BOMBS if b != "aspect_png")  # ingest does not read PNG
VITALS_BOMBS = ("deep_json", "future_ts")


# ---------------------------------------------------------------- DICOM helpers

def _mr():
    import pydicom

    return pydicom.dcmread(Path(pydicom.__file__).parent / "data" / "test_files" / "MR_small.dcm")


def _save(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@lru_cache(maxsize=1)
def _zero_block() -> bytes:
    """1 MiB of zeros as raw deflate ending in a full flush: byte-aligned with a fresh window, so N copies in a
    row are a valid stream of N MiB (building a 1 GiB bomb costs one 1 MiB compress)."""
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return z.compress(bytes(MIB)) + z.flush(zlib.Z_FULL_FLUSH)


@lru_cache(maxsize=8)
def deflate_dicom(inflated_mib: int, in_private: bool) -> bytes:
    """MR_small as Deflated Explicit VR LE with ``inflated_mib`` MiB of zeros in Pixel Data (or in a private OB
    element ahead of a normal Pixel Data)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = _mr()
    pixels = ds.PixelData
    del ds.PixelData
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    head = body.getvalue()
    if in_private:  # group 7FDF sorts just before Pixel Data: creator (7FDF,0010) "ACME", then (7FDF,1010) OB
        head += struct.pack("<HH2sH", 0x7FDF, 0x0010, b"LO", 4) + b"ACME"
    tag = (0x7FDF, 0x1010) if in_private else (0x7FE0, 0x0010)
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = z.compress(head + struct.pack("<HH2sHI", *tag, b"OB" if in_private else b"OW", 0, inflated_mib * MIB))
    start += z.flush(zlib.Z_FULL_FLUSH)
    tail = z.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, len(pixels)) + pixels) if in_private else b""
    tail += z.flush()
    meta = ds.file_meta
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue() + start + _zero_block() * inflated_mib + tail


def j2k_dicom(siz_rows: int, siz_cols: int) -> bytes:
    """A 32×32 MR whose JPEG 2000 codestream's SIZ declares siz_rows × siz_cols (Xsiz/Ysiz patched)."""
    from openjpeg import encode
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    stream = bytearray(encode(np.arange(1024, dtype=np.uint16).reshape(32, 32), bits_stored=16))
    i = stream.find(b"\xff\x4f\xff\x51")
    struct.pack_into(">II", stream, i + 8, siz_cols, siz_rows)
    ds = _mr()
    ds.Rows = ds.Columns = 32
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 0
    ds.PixelData = encapsulate([bytes(stream)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    return _save(ds)


def _ramp(rows: int, cols: int) -> np.ndarray:
    """Non-empty, compressible pixels (ingest drops near-empty slices, which would hide the bomb)."""
    return ((np.arange(rows)[:, None] * 7 + np.arange(cols)[None, :] * 13) % 1000 + 100).astype(np.int16)


def aspect_dicom(rows: int, cols: int) -> bytes:
    from pydicom.uid import ExplicitVRLittleEndian

    ds = _mr()
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = _ramp(rows, cols).tobytes()
    ds["PixelData"].VR = "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return _save(ds)


# ---------------------------------------------------------------- NIfTI helpers

@lru_cache(maxsize=8)
def nifti_offset_bomb(offset: int, fill: bool) -> bytes:
    """A 4×4×1 int16 NIfTI with its data ``offset`` bytes in: gzipped zeros up to there (``fill``), or a plain
    body that ends right after the header."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape((4, 4, 1))
    hdr.set_data_dtype(np.int16)
    hdr["vox_offset"] = offset
    head = hdr.binaryblock + b"\0" * 4
    if not fill:
        return head + np.arange(16, dtype="<i2").tobytes()
    # gzip by hand: header, the deflated header, N full-flushed MiB of zeros (one compress), data, crc32 + size
    assert (offset - len(head)) % MIB == 0, "offset - 352 must be whole MiB"
    n_mib, data = (offset - len(head)) // MIB, np.arange(16, dtype="<i2").tobytes()
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = [z.compress(head) + z.flush(zlib.Z_FULL_FLUSH), _zero_block() * n_mib, z.compress(data) + z.flush()]
    crc, zeros = zlib.crc32(head), bytes(MIB)
    for _ in range(n_mib):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(data, crc)
    trailer = struct.pack("<II", crc, (len(head) + n_mib * MIB + len(data)) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"".join(body) + trailer


def aspect_nifti(shape: tuple[int, int, int]) -> bytes:
    import nibabel as nib

    img = nib.Nifti1Image(_ramp(shape[0], shape[1])[:, :, None].repeat(shape[2], 2), np.diag([1.0, 1, 1, 1]))
    return img.to_bytes()


@lru_cache(maxsize=8)
def aspect_png(height: int, width: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((_ramp(height, width) % 256).astype(np.uint8)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


# ---------------------------------------------------------------- the image bomb stream

def bomb(index: int, seed: int = 0, classes: tuple[str, ...] = IMAGE_BOMBS) -> Mutant:
    """Bomb ``index`` of the stream ``seed``: class ``classes[index % len(classes)]``, its variant from the rng."""
    rng = np.random.default_rng([seed, index, 18])
    cls = classes[index % len(classes)]
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    kind = "dicom"
    if cls == "deflate_dicom":
        mib, private = pick((320, 512, 1024)), bool(rng.random() < 0.3)
        data, what = deflate_dicom(mib, private), f"{mib}MiB{'-private' if private else ''}"
    elif cls == "nifti_vox_offset":
        offset, fill = pick(((128 * MIB + 352, True), (512 * MIB + 352, True), (1024 * MIB + 352, True), (2**30, False), (2**31 - 8, False)))
        kind = "nifti_gz" if fill else "nifti"
        data, what = nifti_offset_bomb(offset, fill), f"offset{offset}"
    elif cls == "j2k_siz":
        rows, cols = pick(((16384, 16384), (65535, 65535), (65535, 1), (1, 65535), (16, 16)))
        data, what = j2k_dicom(rows, cols), f"siz{rows}x{cols}"
    elif cls == "aspect_png":
        h, w = pick(((65536, 256), (256, 65536), (1, 2**20), (65536, 16)))
        kind, data, what = "png", aspect_png(h, w), f"{h}x{w}"
    elif cls == "aspect_dicom":
        rows, cols = pick(((16384, 8), (8, 16384), (65535, 4), (4, 65535)))
        data, what = aspect_dicom(rows, cols), f"{rows}x{cols}"
    elif cls == "aspect_nifti":
        shape = pick(((16384, 8, 1), (8, 16384, 1), (32767, 4, 1), (32767, 16, 2)))
        kind, data, what = "nifti", aspect_nifti(shape), "x".join(map(str, shape))
        if rng.random() < 0.5:
            kind, data = "nifti_gz", gzip.compress(data, compresslevel=1, mtime=0)
    else:
        raise ValueError(f"bomb class {cls!r}; valid ones are {list(IMAGE_BOMBS)}")
    return Mutant(index, "bomb", kind, (f"bomb_{cls}", what), data)


def bombs(n: int, seed: int = 0, classes: tuple[str, ...] = IMAGE_BOMBS, start: int = 0):
    for i in range(start, start + n):
        yield bomb(i, seed, classes)


# ---------------------------------------------------------------- vitals bombs

@dataclass(frozen=True)
class VitalsBomb:
    index: int
    cls: str  # deep_json | future_ts
    what: str
    key: bytes
    value: bytes


def _v1(pid: str, ts: datetime, **over) -> dict:
    d = {"v": 1, "patient_id": pid, "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "heart_rate": 72, "spo2": 98,
         "temperature": 36.8, "mobility": 0.2}
    return {**d, **over}


def vitals_bomb(index: int, seed: int = 0, now: datetime | None = None) -> VitalsBomb:
    """Hostile vitals message ``index``: class ``VITALS_BOMBS[index % 2]``, variant from the rng. ``now`` anchors
    the relative future timestamps (default: the wall clock)."""
    rng = np.random.default_rng([seed, index, 1818])
    now = now or datetime.now(timezone.utc)
    pid = f"P{int(rng.integers(1, 5)):04d}"
    cls = VITALS_BOMBS[index % len(VITALS_BOMBS)]
    v = int(rng.integers(6))
    if cls == "deep_json":
        k = int(rng.choice([300, 1000, 2000, 20_000]))
        what, value = [
            ("open_arrays", b"[" * k),
            ("closed_arrays", b"[" * k + b"]" * k),
            ("nested_objects", b'{"a":' * k + b"1" + b"}" * k),
            ("open_objects", b'{"a":' * k),
            ("fhir_nested", b'{"resourceType":"Observation","status":"final","code":' + b'{"coding":[' * k
             + b'{"code":"8867-4"}' + b"]}" * k + b"}"),
            ("v1_nested_field", json.dumps(_v1(pid, now)).encode().replace(b'"heart_rate": 72',
                                                                          b'"heart_rate": ' + b"[" * 900 + b"72"
                                                                          + b"]" * 900)),
        ][v]
        what = f"{what}{k if v < 5 else 900}"
    else:
        from medray.vitals.fhir import observation
        from medray.vitals.schema import make_reading

        ts = [datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc), now + timedelta(days=1),
              now + timedelta(hours=1), now + timedelta(days=365 * 50)][v % 4]
        what = f"ts{ts.year}" if ts.year > now.year + 1 else f"ts+{(ts - now).total_seconds():.0f}s"
        if v < 4:
            value = json.dumps(_v1(pid, ts)).encode()
        else:
            what = "fhir_" + what
            value = json.dumps(observation(make_reading(pid, ts, 72, 98, 36.8, 0.2), "heart_rate")).encode()
    return VitalsBomb(index, cls, what, pid.encode(), value)


def vitals_bombs(n: int, seed: int = 0, now: datetime | None = None) -> list[VitalsBomb]:
    return [vitals_bomb(i, seed, now) for i in range(n)]
