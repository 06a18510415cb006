"""Recursive discovery of scan files and their grouping into *units* (one volume each).

Rules, applied to every regular file under the given paths (symlinks followed; sorted for determinism):

* volume formats nibabel reads (``.nii``, ``.nii.gz``, ``.hdr``, ``.mnc``, ``.mgh``, ``.mgz``, ``.par``, ``.head``;
  ``.img``/``.rec``/``.brik`` are the data halves of those pairs and not listed twice) → one NIfTI unit each;
* BraTS folders: files ``<P>_{t1,t1ce,t2,flair,seg}.nii[.gz]`` sharing a prefix ``P`` in one folder → one
  4-channel unit with mask (seg optional); one contrast with its seg (e.g. ``P_t1`` + ``P_seg``: a labelled T1
  such as the real-scan corpus's tissue label maps) → a 1-channel unit with mask; any other partial group (two
  or three contrasts, or several contrasts without all four) is refused;
* DICOM: ``.dcm``/``.dicom``/``.ima``, and any other file (extension-less exports included) with the ``DICM``
  magic at byte 128.
  Headers are read here (pixels deferred) and files are grouped by (SeriesInstanceUID, folder, Rows, Columns,
  Modality) — a series is expected in one folder, and the same instance exported twice to two folders (e.g. in two
  transfer syntaxes) stays two units; within a group a repeated SOPInstanceUID is refused as ``duplicate``.
  The worker orders a group's files by position along the slice normal, then InstanceNumber.
  Refused from the header: not DICOM, no pixel data, colour, neither CT nor MR, duplicate SOPInstanceUID.
* Other files (CSV, JSON, text…) are ignored and counted. Files that cannot be opened — broken links, FIFOs,
  sockets, devices, permission errors — and zero-byte candidates are refused.

Only pseudonyms leave this module: header ids are hashed here, in the driver, before any unit is built.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from medray.config import InputError
from medray.ingest.deid import pseudonym
from medray.imaging.dicom import read_header
from medray.ingest.rejects import Reason, Reject, reject
from medray.imaging.timeout import time_limit

NIBABEL_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".hdr.gz", ".mnc", ".mgh", ".mgz", ".par", ".head")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
BRATS_RE = re.compile(r"^(?P<prefix>.+)_(?P<role>t1ce|t1|t2|flair|seg)\.nii(\.gz)?$", re.IGNORECASE)
BRATS_CHANNELS = ("t1", "t1ce", "t2", "flair")


@dataclass
class Discovery:
    units: list[dict] = field(default_factory=list)  # JSON-able, PHI-free work items
    rejects: list[Reject] = field(default_factory=list)
    n_ignored: int = 0


def _walk(paths: list[Path]):
    visited: set[str] = set()  # real paths of folders already walked: a symlink loop is walked once
    for root in paths:
        root = Path(root)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
                real = os.path.realpath(dirpath)
                if real in visited:
                    dirnames[:] = []
                    continue
                visited.add(real)
                dirnames.sort()
                for name in sorted(filenames):
                    yield Path(dirpath) / name
        else:
            yield root  # a file, a FIFO, or a path that does not exist: classified below


def _kind(path: Path, head: bytes) -> str | None:
    name = path.name.lower()
    if name.endswith(NIBABEL_SUFFIXES):
        return "nifti"
    if name.endswith(DICOM_SUFFIXES) or head[128:132] == b"DICM":
        return "dicom"
    return None


def _open_check(path: Path) -> tuple[bytes | None, Reject | None]:
    """Read the first 132 bytes of a regular file, or say why it cannot be read (never blocks on a FIFO)."""
    try:
        st = os.stat(path)  # follows links: a dangling link raises FileNotFoundError
    except FileNotFoundError:
        what = "broken symbolic link" if path.is_symlink() else "does not exist"
        return None, reject(path, Reason.UNREADABLE, what)
    except OSError as e:
        return None, reject(path, Reason.UNREADABLE, type(e).__name__)
    if not stat.S_ISREG(st.st_mode):
        return None, reject(path, Reason.UNREADABLE, "not a regular file (FIFO, socket or device)")
    try:
        with open(path, "rb") as f:
            return f.read(132), None
    except OSError as e:
        return None, reject(path, Reason.UNREADABLE, f"{type(e).__name__}: {e.strerror}")


def _brats_units(nifti: list[Path], salt: str, out: Discovery) -> list[Path]:
    """Group BraTS files into units; return the NIfTI files that are not part of a BraTS group."""
    groups: dict[tuple[Path, str], dict[str, Path]] = {}
    loose = []
    for p in nifti:
        m = BRATS_RE.match(p.name)
        if m:
            groups.setdefault((p.parent, m["prefix"]), {})[m["role"].lower()] = p
        else:
            loose.append(p)
    for (folder, prefix), roles in sorted(groups.items()):
        present = [c for c in BRATS_CHANNELS if c in roles]
        if len(roles) < 2:  # a lone `x_t1.nii` is just a NIfTI volume
            loose.extend(roles.values())
            continue
        single = len(present) == 1 and "seg" in roles  # one contrast + its label map: a 1-channel unit
        if len(present) < len(BRATS_CHANNELS) and not single:
            missing = [c for c in BRATS_CHANNELS if c not in roles]
            for p in roles.values():
                out.rejects.append(reject(p, Reason.INCOMPLETE_BRATS, f"folder lacks {','.join(missing)}"))
            continue
        out.units.append({
            "kind": "brats", "stratum": "brats",
            "patient_id": pseudonym(salt, "patient", prefix),
            "series_id": pseudonym(salt, "series", f"brats:{folder.name}/{prefix}"),
            "paths": {role: str(p) for role, p in roles.items()},
            "channels": present,  # the image channels, in BRATS_CHANNELS order
        })
    return sorted(loose)


def _dicom_units(files: list[Path], salt: str, timeout_s: float, out: Discovery) -> None:
    series: dict[tuple, dict] = {}
    for p in tqdm(files, desc="DICOM headers", unit="file", disable=len(files) < 50):
        try:
            with time_limit(timeout_s, "header"):
                h = read_header(p)
        except InputError as e:
            out.rejects.append(reject(p, Reason(e.reason), e.detail))
            continue
        except Exception as e:  # pydicom parses values lazily: a bad VR/value raises on first access
            out.rejects.append(reject(p, Reason.NOT_DICOM, f"header value unreadable: {type(e).__name__}"))
            continue
        key = (h["series_uid"] or f"file:{p}", str(p.parent), h["rows"], h["cols"], h["modality"])
        s = series.setdefault(key, {"patient": h["patient_id"] or key[0], "modality": h["modality"], "files": [],
                                    "sops": set()})
        if h["sop_uid"] and h["sop_uid"] in s["sops"]:
            out.rejects.append(reject(p, Reason.DUPLICATE, "SOPInstanceUID already in this series"))
            continue
        s["sops"].add(h["sop_uid"])
        s["files"].append(str(p))
    for key, s in sorted(series.items(), key=lambda kv: kv[1]["files"][0]):
        out.units.append({
            "kind": "dicom", "stratum": f"dicom-{s['modality']}", "modality": s["modality"],
            "patient_id": pseudonym(salt, "patient", s["patient"]),
            "series_id": pseudonym(salt, "series", "|".join(map(str, key))),
            "paths": s["files"],
        })


def discover(paths: list[Path], salt: str, header_timeout_s: float = 60.0) -> Discovery:
    """Walk ``paths`` and return PHI-free units plus the files refused before any pixel is read."""
    out = Discovery()
    nifti, dicom, seen = [], [], set()
    for p in _walk(paths):
        if p in seen:
            continue
        seen.add(p)
        head, bad = _open_check(p)
        if bad is not None:
            out.rejects.append(bad)
            continue
        kind = _kind(p, head) if head or "." in p.name else "dicom"  # an empty extension-less file may be DICOM
        if kind is None:
            out.n_ignored += 1
        elif len(head) == 0:
            out.rejects.append(reject(p, Reason.ZERO_BYTE, "empty file"))
        elif kind == "nifti":
            nifti.append(p)
        else:
            dicom.append(p)
    for p in _brats_units(nifti, salt, out):
        out.units.append({
            "kind": "nifti", "stratum": "nifti",
            "patient_id": pseudonym(salt, "patient", _stem(p)),
            "series_id": pseudonym(salt, "series", f"nifti:{p.parent.name}/{p.name}"),
            "paths": {"image": str(p)},
        })
    _dicom_units(dicom, salt, header_timeout_s, out)
    return out


def _stem(p: Path) -> str:
    """File name without the image extension(s): the patient key of a loose volume."""
    name = p.name
    for suf in sorted(NIBABEL_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name
