"""Real CT/MR DICOM for the demo, copied byte for byte from the installed pydicom wheel's test files.

These are genuine scans (NEMA WG04 sample CT/MR, downsized by pydicom; a CQ500 head CT) that still carry
fake-but-PHI-like tags (patient name/id, dates, institution) — exactly what ingest's de-identification must
strip, so they are copied unmodified. RGB/palette/secondary-capture files are left out on purpose; the wheel
ships no multi-frame CT/MR (pydicom keeps those in the separate ``pydicom-data`` download), so there is none.

Each file goes into its own folder (one series each). No compressed MR variant is copied: every one in the
wheel (MR_small_RLE/_jp2klossless/_jpeg_ls_lossless/...) is the *same* instance as MR_small.dcm (same
SOPInstanceUID), which ingest rightly refuses as a duplicate — and the demo data must ingest without rejects.
The compressed decoding path is exercised by the JPEG 2000 head CT instead.
"""
from __future__ import annotations

import shutil
from pathlib import Path

# file in pydicom/data/test_files → what it is (for the manifest)
CANDIDATES: dict[str, str] = {
    "CT_small.dcm": "CT, explicit VR little endian, 128x128 (NEMA WG04 CT1, downsized)",
    "MR_small.dcm": "MR, explicit VR little endian, 64x64 (NEMA WG04 MR1, downsized)",
    "693_J2KI.dcm": "head CT, JPEG 2000 compressed, 512x512 (CQ500 dataset)",
}
# Tags that look like PHI in these files; the manifest lists which are non-empty (names only, never values).
PHI_LIKE_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate",
                 "ContentDate", "InstitutionName", "ReferringPhysicianName", "StudyInstanceUID",
                 "SeriesInstanceUID", "SOPInstanceUID", "AccessionNumber")


def pydicom_test_files_dir() -> Path:
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files"


def copy_dicom(out: Path) -> list[dict]:
    """Copy the candidate files present on disk to ``out/<stem>/<file>``; return manifest entries."""
    import pydicom

    src_dir = pydicom_test_files_dir()
    entries = []
    for name, what in CANDIDATES.items():
        src = src_dir / name
        if not src.is_file():
            continue  # wheel layout changed: use what is there, the manifest lists what was copied
        dst = out / Path(name).stem / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        ds = pydicom.dcmread(src, stop_before_pixels=True)
        entries.append({
            "path": dst.relative_to(out.parent).as_posix(),
            "real": True,
            "synthetic": [],
            "what": what,
            "modality": str(ds.get("Modality", "")),
            "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
            "phi_like_tags_present": [t for t in PHI_LIKE_TAGS if str(ds.get(t, "") or "").strip()],
            "source": {"package": "pydicom", "version": pydicom.__version__, "file": f"pydicom/data/test_files/{name}"},
        })
    return entries
