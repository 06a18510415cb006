"""``medray demo-data``: a small BraTS-like cohort from real scans shipped in PyPI packages.

Per patient: warp the real MNI152 anatomy (nilearn) with a seeded random affine + elastic deformation,
synthesise T1ce/T2/FLAIR from the warped tissue maps, maybe add a synthetic tumour (BraTS labels 1/2/4),
add per-acquisition bias and noise, and write ``brats/<PID>/<PID>_{t1,t1ce,t2,flair,seg}.nii.gz``.
Also copies real pydicom CT/MR files to ``dicom/``, writes synthetic ``vitals.csv`` and
``demo_manifest.json`` (what is real, what is synthetic, where each piece came from).

Deterministic: patient ``i`` draws from ``SeedSequence([seed, i])``; cohort-level choices from their own
stream, so the same seed gives identical NIfTI arrays.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
from tqdm import tqdm

from medray.config import ConfigError, check_range
from medray.datasets.anatomy import Anatomy, load_anatomy
from medray.datasets.contrasts import MODALITIES, STORE_SCALE, acquire, healthy_contrasts
from medray.datasets.deform import apply_warp, random_warp
from medray.datasets.dicom_files import copy_dicom
from medray.datasets.tumour import LESION_INTENSITY, apply_lesion, make_tumour
from medray.datasets.vitals_table import RANGES, draw_vitals, write_vitals_csv

log = logging.getLogger(__name__)

HEALTHY_FRACTION = 0.25  # share of patients without a tumour (at least one when there are ≥ 2 patients)
_COHORT_STREAM = 1_000_003  # SeedSequence key of cohort-level draws, distinct from any patient index


def patient_id(i: int) -> str:
    return f"DEMO-{i + 1:04d}"


def _healthy_set(n: int, rng: np.random.Generator) -> set[int]:
    n_healthy = max(1, int(round(HEALTHY_FRACTION * n))) if n >= 2 else 0
    return set(int(i) for i in rng.permutation(n)[:n_healthy])


def _save(volume: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(volume, affine)
    img.header.set_xyzt_units("mm")
    img.header.set_sform(affine, code=1)  # scanner-anatomical: after the warp it is no longer exact MNI space
    img.header.set_qform(affine, code=1)
    img.header["descrip"] = b"medray demo: see demo_manifest.json"
    nib.save(img, path)


def make_patient(anat: Anatomy, index: int, seed: int, with_tumour: bool) -> tuple[dict, np.ndarray, dict]:
    """Build one patient's volumes: ({modality: int16}, seg uint8, manifest summary)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    warp = random_warp(anat.shape, rng)
    t1, gm, wm, csf = (apply_warp(v, warp) for v in (anat.t1, anat.gm, anat.wm, anat.csf))
    brain = apply_warp(anat.brain.astype(np.float32), warp) > 0.5
    images = healthy_contrasts(t1, gm, wm, csf)
    seg = np.zeros(anat.shape, dtype=np.uint8)
    summary = {"deformation": warp.summary, "tumour": None}
    if with_tumour:
        seg, summary["tumour"] = make_tumour(brain, wm, rng)
        images = apply_lesion(images, seg, rng)
    stored = {m: acquire(images[m], brain, rng) for m in MODALITIES}
    return stored, seg, summary


def make_demo_data(out: Path, patients: int = 12, seed: int = 0) -> dict:
    """Write the demo cohort under ``out``; return the manifest (also written to ``out/demo_manifest.json``)."""
    for name, value, hi in (("patients", patients, 999), ("seed", seed, 2**32 - 1)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be an integer")
        check_range(name, value, 1 if name == "patients" else 0, hi)  # SeedSequence needs seed ≥ 0
    out = Path(out)
    (out / "brats").mkdir(parents=True, exist_ok=True)
    anat = load_anatomy(resolution=2)
    cohort_rng = np.random.default_rng(np.random.SeedSequence([seed, _COHORT_STREAM]))
    healthy = _healthy_set(patients, cohort_rng)
    ids = [patient_id(i) for i in range(patients)]
    vitals = draw_vitals(ids, cohort_rng)

    records = []
    for i in tqdm(range(patients), desc="demo-data patients", unit="patient"):
        pid = ids[i]
        stored, seg, summary = make_patient(anat, i, seed, with_tumour=i not in healthy)
        folder = out / "brats" / pid
        folder.mkdir(parents=True, exist_ok=True)
        for m, vol in stored.items():
            _save(vol, anat.affine, folder / f"{pid}_{m}.nii.gz")
        _save(seg, anat.affine, folder / f"{pid}_seg.nii.gz")
        records.append({"patient_id": pid, "folder": f"brats/{pid}", "has_tumour": i not in healthy,
                        "labels": sorted(int(v) for v in np.unique(seg)), "vitals_state": vitals[i]["state"],
                        **summary})
    write_vitals_csv(vitals, out / "vitals.csv")
    dicom = copy_dicom(out / "dicom")
    text = json.dumps(_manifest(anat, seed, records, dicom), indent=2)
    (out / "demo_manifest.json").write_text(text)
    manifest = json.loads(text)  # return exactly what the file says (str keys, lists)
    log.info("demo data: %d patients (%d without tumour), %d DICOM files → %s",
             patients, len(healthy), len(dicom), out)
    return manifest


def _manifest(anat: Anatomy, seed: int, records: list[dict], dicom: list[dict]) -> dict:
    src = anat.sources
    brats_items = [
        {"path": "brats/<PID>/<PID>_t1.nii.gz", "real": ["anatomy: nilearn MNI152 2009a T1 template"],
         "synthetic": ["per-patient affine + elastic deformation", "tumour intensities", "bias field", "noise"],
         "source": src["t1"]},
        *({"path": f"brats/<PID>/<PID>_{m}.nii.gz",
           "real": ["anatomy: nilearn MNI152 GM/WM probability maps (CSF derived)"],
           "synthetic": [f"{m} contrast synthesised from tissue maps", "per-patient deformation",
                         "tumour intensities", "bias field", "noise"],
           "source": [src["gm"], src["wm"], src["csf"]] + ([src["t1"]] if m == "t1ce" else [])}
          for m in ("t1ce", "t2", "flair")),
        {"path": "brats/<PID>/<PID>_seg.nii.gz", "real": [],
         "synthetic": ["tumour masks, BraTS labels 1 necrosis / 2 edema / 4 enhancing; 0 elsewhere"],
         "source": {"package": "medray", "file": "medray/datasets/tumour.py"}},
    ]
    return {
        "generator": "medray demo-data",
        "seed": seed,
        "n_patients": len(records),
        "grid": {"shape": list(anat.shape), "voxel_mm": [2.0, 2.0, 2.0], "affine": anat.affine.tolist()},
        "intensity": {"dtype": "int16", "scale": STORE_SCALE, "lesion_targets": LESION_INTENSITY},
        "real": ["MNI152 anatomy (nilearn templates: T1, GM, WM)", "DICOM files under dicom/ (pydicom test files)"],
        "synthetic": ["patients (deformations of one template brain)", "T1ce/T2/FLAIR contrasts", "tumours and seg",
                      "bias fields and noise", "vitals"],
        "items": brats_items + dicom + [
            {"path": "vitals.csv", "real": [], "synthetic": ["all values; per-patient state calm/moving/distressed"],
             "ranges": RANGES, "source": {"package": "medray", "file": "medray/datasets/vitals_table.py"}},
        ],
        "patients": records,
        "notes": ["No multi-frame CT/MR ships in the pydicom wheel, so none is included.",
                  "No compressed MR: each one in the pydicom wheel is the same instance (SOPInstanceUID) as "
                  "MR_small.dcm and would be refused by ingest as a duplicate; the JPEG 2000 head CT covers "
                  "compressed decoding."],
    }
