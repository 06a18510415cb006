"""DICOM checks that must run *before* pydicom or a pixel decoder allocates: bounded inflation of the Deflated
transfer syntax, and the JPEG 2000 codestream header (SIZ) checked against Rows/Columns.

pydicom inflates a Deflated Explicit VR Little Endian body with one unbounded ``zlib.decompress`` (a 261 kB body
reached 512 MiB), and OpenJPEG allocates what the SIZ marker declares, not what the DICOM header says (a 734-byte
file took 537 MiB). Both are refused here with ``InputError('too_large' | 'bad_geometry')``.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pydicom
from pydicom.encaps import generate_fragments
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from medray.config import InputError

HEADER_SLACK = 1 << 20  # bytes of attributes beyond the pixel data an inflated dataset may hold
J2K_SYNTAXES = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92",
                "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                "1.2.840.10008.1.2.4.203"}
_SOC_SIZ = b"\xff\x4f\xff\x51"


INFLATE_CHUNK = 1 << 20


def inflate(data: bytes, max_bytes: int) -> bytes:
    """Raw deflate (no zlib header, as DICOM stores it) → at most ``max_bytes``, else ``too_large``. Inflated in
    1 MiB pieces: one ``decompress(data, max_bytes + 1)`` grows its output in blocks and joins them at the end, so
    a bomb refused at a 256 MiB cap had held 512 MiB (measured by benchmarks/fuzz_inputs.py --bombs)."""
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    parts, total, rest = [], 0, data
    try:
        while rest:
            out = d.decompress(rest, INFLATE_CHUNK)
            rest = d.unconsumed_tail
            total += len(out)
            if total > max_bytes:
                raise InputError("too_large", f"deflated DICOM inflates beyond {max_bytes} bytes")
            parts.append(out)
        out = d.flush()  # at most one deflate match (≤ 258 bytes) is left once the input is consumed
    except zlib.error as e:
        raise InputError("decode_error", f"deflated DICOM stream is broken: {e}") from None
    if total + len(out) > max_bytes:
        raise InputError("too_large", f"deflated DICOM inflates beyond {max_bytes} bytes")
    parts.append(out)
    return b"".join(parts)


def read_bounded(source: str | Path | bytes, max_inflated: int, **dcmread_kw) -> pydicom.Dataset:
    """``pydicom.dcmread`` of a path or bytes, except that a Deflated body is inflated here, to at most
    ``max_inflated`` bytes, and parsed as the Explicit VR Little Endian it wraps."""
    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with fp:
        try:
            read_preamble(fp, True)
            meta = _read_file_meta_info(fp)
        except Exception:  # no usable meta header: let dcmread give its own error (or read it without one)
            meta = None
        if meta is None or meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
            fp.seek(0)
            return pydicom.dcmread(source if isinstance(source, (str, Path)) else fp, **dcmread_kw)
        body = inflate(fp.read(), max_inflated)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=False)
    out.write(body)
    out.seek(0)
    return pydicom.dcmread(io.BytesIO(out.getvalue()), **dcmread_kw)


def j2k_size(codestream: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, components) from the SIZ marker right after SOC, or None if the bytes hold none."""
    i = codestream.find(_SOC_SIZ, 0, 256)  # a JP2 wrapper puts a few boxes before the codestream
    if i < 0 or len(codestream) < i + 42:
        return None
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", codestream[i + 8: i + 24])
    csiz = struct.unpack(">H", codestream[i + 40: i + 42])[0]
    return ysiz - yo, xsiz - xo, csiz


def check_j2k_header(ds) -> None:
    """Every JPEG 2000 frame's SIZ must declare exactly Rows × Columns × SamplesPerPixel."""
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
    if syntax not in J2K_SYNTAXES or "PixelData" not in ds:
        return
    want = (int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1) or 1))
    found = 0
    try:
        for frag in generate_fragments(ds.PixelData):
            size = j2k_size(bytes(frag[:256]))
            if size is None:
                continue  # a frame's continuation fragment
            found += 1
            if size != want:
                raise InputError("bad_geometry", f"JPEG 2000 SIZ declares {size[0]}×{size[1]}×{size[2]}; "
                                                 f"the DICOM header says {want[0]}×{want[1]}×{want[2]}")
    except InputError:
        raise
    except Exception as e:  # broken encapsulation (item tags, lengths)
        raise InputError("decode_error", f"JPEG 2000 fragments: {type(e).__name__}: {e}") from None
    if not found:
        raise InputError("decode_error", "JPEG 2000 pixel data holds no codestream header (SOC + SIZ)")
