"""PNG chunk mutators: CRC, IHDR size/bit depth/colour type, chunk length, truncated or garbage IDAT, a
decompression bomb behind a small IHDR."""
from __future__ import annotations

import struct
import zlib
from typing import Callable

from benchmarks.fuzz_bytes import patch as _patch


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
