"""Decode request bodies by Content-Type and encode results back in the same format."""
from __future__ import annotations

import numpy as np

from medray.config import InputError
from medray.serve.codecs.dicom import decode_dicom, encode_dicom
from medray.serve.codecs.nifti import decode_nifti, encode_nifti
from medray.serve.codecs.png import decode_png, encode_png
from medray.serve.codecs.types import CodecLimits, Decoded

# Content-Type (parameters stripped, lower-case) → codec name.
MEDIA_TYPES = {
    "image/png": "png",
    "application/x-nifti": "nifti",
    "application/gzip": "nifti",
    "application/dicom": "dicom",
}


def codec_for(content_type: str | None) -> str:
    """The codec for a Content-Type header, or InputError('unsupported') naming the accepted types."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise InputError("unsupported", f"Content-Type {media or '(none)'!r}; accepted: {sorted(MEDIA_TYPES)}")
    return media


def decode(content_type: str | None, body: bytes, limits: CodecLimits) -> Decoded:
    media = codec_for(content_type)
    if len(body) > limits.max_body_bytes:
        raise InputError("too_large", f"body is {len(body)} bytes; the limit is {limits.max_body_bytes}")
    if not body:
        raise InputError("empty", "request body is empty")
    kind = MEDIA_TYPES[media]
    if kind == "png":
        return decode_png(body, limits)
    if kind == "nifti":
        return decode_nifti(body, limits, media)
    return decode_dicom(body, limits)


def encode(dec: Decoded, out: np.ndarray, scale: int, description: str) -> bytes:
    """``out`` [N, C, H*s, W*s] float in [0, 1] → bytes of ``dec.media_type``."""
    fn = {"png": encode_png, "nifti": encode_nifti, "dicom": encode_dicom}[dec.fmt]
    try:
        return fn(dec, out, scale, description)
    except InputError:
        raise
    except Exception as e:  # a header that decoded but cannot be written back (odd VRs, broken qform...)
        raise InputError("unencodable", f"the result could not be written as {dec.media_type}: "
                         f"{type(e).__name__}: {e}") from None


__all__ = ["CodecLimits", "Decoded", "MEDIA_TYPES", "codec_for", "decode", "encode"]
