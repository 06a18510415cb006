"""Typed reasons for refusing an input file, and the rejects.jsonl record.

A refused file costs one line in ``rejects.jsonl``: ``{"path", "reason", "detail"}``. ``path`` is the file's path as
given on the command line (paths are the user's own naming; no header value is ever copied into ``detail``).
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable


class Reason(str, enum.Enum):
    ZERO_BYTE = "zero_byte"  # empty file
    UNREADABLE = "unreadable"  # cannot be opened: permissions, broken link, FIFO/socket/device
    NOT_DICOM = "not_dicom"  # named/sniffed as DICOM but pydicom cannot parse it
    NOT_NIFTI = "not_nifti"  # named as a nibabel format but nibabel cannot parse it
    UNSUPPORTED_FORMAT = "unsupported_format"  # a format whose reader needs a module medray does not ship (MINC2)
    TRUNCATED = "truncated"  # header fine, pixel data shorter than declared
    NOT_IMAGE = "not_image"  # DICOM without pixel data (SR, RT plan, waveform…)
    COLOUR = "colour"  # RGB/YBR/palette: medray handles grey-level scans only
    UNSUPPORTED_MODALITY = "unsupported_modality"  # grey-level DICOM that is neither CT nor MR (NM, US, RTDOSE, SEG…)
    UNSUPPORTED_4D = "unsupported_4d"  # 4-D volume (fMRI/DTI): refused, not split into volumes
    TOO_LARGE = "too_large"  # declared size beyond the limit, refused from the header before allocating
    BAD_GEOMETRY = "bad_geometry"  # inconsistent series (mixed sizes) or degenerate shape
    EMPTY = "empty"  # decoded fine but every slice was near-empty
    TIMEOUT = "timeout"  # exceeded the per-file time limit
    DECODE_ERROR = "decode_error"  # pixel codec failed
    INCOMPLETE_BRATS = "incomplete_brats"  # BraTS folder lacking a modality
    DUPLICATE = "duplicate"  # same SOPInstanceUID already in the series


@dataclass(frozen=True)
class Reject:
    path: str
    reason: str
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def reject(path: str | Path, reason: Reason, detail: str = "") -> Reject:
    return Reject(path=str(path), reason=Reason(reason).value, detail=detail[:300])


def write_rejects(path: Path, rejects: Iterable[Reject]) -> int:
    """Write rejects sorted by path (deterministic files), return how many."""
    rows = sorted(rejects, key=lambda r: (r.path, r.reason))
    path.write_text("".join(r.to_json() + "\n" for r in rows))
    return len(rows)
