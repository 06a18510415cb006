"""Format-blind byte mutators (bit flips, interesting bytes, truncation, splices, random bytes) and the
fixed-offset patch the format-aware mutators share."""
from __future__ import annotations

import struct


def patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


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
