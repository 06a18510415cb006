"""Typed reasons for refusing an input file, and the rejects.jsonl record.

A refused file costs one line in ``rejects.jsonl``: ``{"path", "reason", "detail"}``. Source paths often hold names,
MRNs or dates (``/pacs/DOE_JOHN_1970/…``), so ``path`` is written pseudonymised: the salted keyed hash of the path
as given plus its file extension (``path_pseudonym``); whoever holds the salt can recompute it for a known path.
No header value is ever copied into ``detail``.
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from medray.ingest.deid import pseudonym


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
    SECONDARY_CAPTURE = "secondary_capture"  # Secondary Capture SOP class: screenshots/scans of paper, not acquisitions
    BURNED_IN_ANNOTATION = "burned_in_annotation"  # BurnedInAnnotation YES: identifying text in the pixels


@dataclass(frozen=True)
class Reject:
    path: str
    reason: str
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def reject(path: str | Path, reason: Reason, detail: str = "") -> Reject:
    return Reject(path=str(path), reason=Reason(reason).value, detail=detail[:300])


def path_pseudonym(salt: str, path: str | Path) -> str:
    """``<keyed hash of the path>.<extension>``: the extension (``.dcm``, ``.nii.gz``) still says what was refused."""
    name = Path(path).name.lower()
    suffixes = Path(name).suffixes
    ext = "".join(suffixes[-2:]) if len(suffixes) >= 2 and suffixes[-1] == ".gz" else (suffixes[-1] if suffixes else "")
    if not ext.replace(".", "").isalnum() or len(ext) > 12:  # '.John Doe 1970' is no extension
        ext = ""
    return pseudonym(salt, "path", str(path)) + ext


def write_rejects(path: Path, rejects: Iterable[Reject], salt: str) -> int:
    """Write rejects with pseudonymised paths, sorted (deterministic files); return how many."""
    rows = sorted((Reject(path_pseudonym(salt, r.path), r.reason, r.detail) for r in rejects),
                  key=lambda r: (r.path, r.reason))
    path.write_text("".join(r.to_json() + "\n" for r in rows))
    return len(rows)
