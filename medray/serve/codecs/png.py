"""PNG in/out: 8- or 16-bit greyscale (colour is converted to luminance). The result keeps the input's bit depth."""
from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

from medray.config import InputError
from medray.imaging.normalise import png_intensity
from medray.serve.codecs.types import CodecLimits, Decoded

MEDIA_TYPE = "image/png"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _ihdr(body: bytes) -> tuple[int, int, int]:
    """(width, height, bit depth) read from the IHDR chunk, before any pixel is decoded."""
    if not body.startswith(_SIGNATURE):
        raise InputError("not_png", "body does not start with the PNG signature")
    if len(body) < 33 or body[12:16] != b"IHDR":
        raise InputError("truncated", "PNG has no complete IHDR chunk")
    width, height, depth = struct.unpack(">IIB", body[16:25])
    if width == 0 or height == 0:
        raise InputError("not_image", f"PNG declares a {width}×{height} image")
    return width, height, depth


def decode_png(body: bytes, limits: CodecLimits) -> Decoded:
    width, height, depth = _ihdr(body)
    limits.check_sides((height, width), "PNG")
    limits.check_voxels(width * height, "PNG")
    try:
        with Image.open(io.BytesIO(body)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                bits = 16
            else:
                arr = np.asarray(im.convert("L"), dtype=np.float64)
                bits = 8
    except InputError:
        raise
    except Exception as e:  # Pillow raises many types for broken chunks/zlib streams
        raise InputError("corrupt", f"PNG could not be decoded: {type(e).__name__}: {e}") from None
    intensity = png_intensity(bits)
    x = intensity.forward(arr)
    return Decoded("png", x[None, None], MEDIA_TYPE, meta={"bits": bits, "ihdr_depth": depth, "intensity": intensity})


def encode_png_array(img: np.ndarray, bits: int) -> bytes:
    """One [H, W] float image in [0, 1] → PNG bytes at 8 or 16 bits."""
    arr = np.round(png_intensity(bits).inverse(img)).astype(np.uint16 if bits == 16 else np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def encode_png(dec: Decoded, out: np.ndarray, scale: int, description: str) -> bytes:
    """``out`` is [1, 1, H*s, W*s]; the description is not stored (PNG text chunks are not read by viewers)."""
    return encode_png_array(out[0, 0], dec.meta["bits"])


def decode_label_png(body: bytes, limits: CodecLimits) -> np.ndarray:
    """A label-map PNG (8-bit grey or palette, raw label values, e.g. BraTS 0/1/2/4) → uint8 [H, W]."""
    width, height, _ = _ihdr(body)
    limits.check_sides((height, width), "PNG mask")
    limits.check_voxels(width * height, "PNG mask")
    try:
        with Image.open(io.BytesIO(body)) as im:
            im.load()
            if im.mode not in ("L", "P", "1"):
                raise InputError("bad_mask", f"mask PNG mode {im.mode!r}; use an 8-bit grey or palette label map")
            return np.asarray(im, dtype=np.uint8).copy()
    except InputError:
        raise
    except Exception as e:
        raise InputError("corrupt", f"mask PNG could not be decoded: {type(e).__name__}: {e}") from None
