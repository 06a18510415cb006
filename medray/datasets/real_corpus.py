"""A corpus built only from real scans that installed packages ship (``sources.SOURCES``), split by role.

Layout written under ``out`` (each role folder is ingested on its own, so training never sees evaluation data)::

    out/train/nifti/<source>.nii.gz        every TRAIN volume (MR or CT), plain NIfTI
    out/eval/nifti/<source>.nii.gz         every EVAL volume
    out/eval/dicom/<stem>/<file>.dcm       pydicom's real CT/MR files, byte for byte (EVAL)
    out/labels/<role>/<source>/<source>_{t1,seg}.nii.gz   label maps (10 CSF, 11 GM, 12 WM, 4 enhancing tumour)
                                           on the grid of the T1 beside them, BraTS-style names
    out/manifest.json                      per volume: source, family, role, modality, real, licence, grid, labels

Label folders sit *outside* the role folders by default because ``medray ingest`` refuses a BraTS folder
without all four of t1/t1ce/t2/flair (``incomplete_brats``) — it would drop the T1 as well. With
``labels_in_roots=True`` the labelled subjects are written as ``out/<role>/brats/<source>/<source>_{t1,seg}``
instead of plain NIfTI, for an ingest that accepts single-channel BraTS folders.

Nothing is random: the same installed packages give the same files.
"""
from __future__ import annotations

import json
import logging
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from medray.config import ConfigError
from medray.datasets import tissue_labels as TL
from medray.datasets.sources import (EVAL, ICBM152_FAMILY_UNUSED, PYRADIOMICS_SDIST, ROLES, SOURCES, Source,
                                     check_roles, data_dir)

log = logging.getLogger(__name__)
MR_STORE_SCALE = 4000.0  # [0,1] template intensities → int16 (ingest renormalises MR by percentiles anyway)


@dataclass
class Built:
    """One source's volume(s), ready to write: image (x, y, z) in RAS+, optional label map on the same grid."""

    image: np.ndarray
    affine: np.ndarray
    label: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def _canonical(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(img.dataobj), np.asarray(img.affine)


def _sdist_member(name: str) -> bytes:
    """Read one member of the pyradiomics source archive in memory (nothing is extracted to disk)."""
    with tarfile.open(data_dir() / PYRADIOMICS_SDIST, "r:gz") as tar:
        info = tar.getmember(name)
        if not info.isfile():
            raise ConfigError(f"{name} in {PYRADIOMICS_SDIST} is not a regular file")
        return tar.extractfile(info).read()


def _mni152(src: Source) -> Built:
    from medray.datasets.anatomy import load_anatomy

    anat = load_anatomy(resolution=1)
    label = TL.from_probabilities(anat.brain, anat.csf, anat.gm, anat.wm)
    return Built(np.rint(anat.t1 * MR_STORE_SCALE).astype(np.int16), anat.affine, label,
                 ["T1 × brain mask (T1 template > 0.02), stored ×4000 as int16",
                  "labels: argmax of CSF/GM/WM probabilities in the brain; CSF = brain − GM − WM"])


def _colin27(src: Source) -> Built:
    t1, aff = _canonical(src.paths()["t1"])
    brain = t1 > 0  # ch2better is skull-stripped: zero outside the brain
    label, (lo, hi) = TL.from_intensity(t1.astype(np.float32), brain)
    return Built(t1.astype(np.uint8), aff, label,
                 [f"labels: 3-class multi-Otsu of brain T1 values, CSF ≤ {lo:.1f} < GM ≤ {hi:.1f} < WM"])


def _copy_only(src: Source) -> Built:
    img, aff = _canonical(src.paths()["t1"])
    return Built(img, aff)


def _cranium(src: Source) -> Built:
    from medray.imaging.invesalius import load_inv3

    vol, aff, _, header = load_inv3(src.paths()["inv3"])
    if header.get("modality") != "CT":
        raise ConfigError(f"{src.key}: main.plist says modality {header.get('modality')!r}, expected CT")
    return Built(np.rint(vol).astype(np.int16), aff, None, ["HU from matrix.dat (int16), whole volume"])


def _pyradiomics(src: Source) -> Built:
    from medray.imaging.nrrd import load_nrrd

    vol, aff, _ = load_nrrd(_sdist_member(src.files["image"]))
    label = None
    if src.labels:
        roi, laff, _ = load_nrrd(_sdist_member(src.files["label"]))
        if roi.shape != vol.shape or not np.allclose(laff, aff, atol=1e-3):
            raise ConfigError(f"{src.key}: label grid differs from the image grid")
        label = TL.tumour_from_roi(roi)
    notes = ["read from the NRRD in the sdist with pynrrd (LPS → RAS)"]
    if label is not None:
        notes.append("label 1 (ROI around the contrast-enhancing lesion) → BraTS 4")
    return Built(np.rint(vol).astype(np.int16), aff, label, notes)


def _itk_kmeans(src: Source) -> Built:
    p = src.paths()
    t1, aff = _canonical(p["t1"])
    seg, saff = _canonical(p["kmeans"])
    if seg.shape != t1.shape or not np.allclose(saff, aff, atol=1e-3):
        raise ConfigError(f"{src.key}: segmentation grid differs from the T1 grid")
    return Built(t1.astype(np.int16), aff, TL.from_itk_kmeans(seg),
                 ["labels: ITK k-means classes 4/5/6 → CSF/GM/WM, other classes → 0"])


BUILDERS = {"mni152-2009a": _mni152, "colin27": _colin27, "inia19-macaque": _copy_only,
            "invesalius-cranium": _cranium, "pyradiomics-lung1": _pyradiomics, "pyradiomics-brain1": _pyradiomics,
            "itk-kmeans-t1": _itk_kmeans, "pyradiomics-brain2": _pyradiomics, "pyradiomics-lung2": _pyradiomics}


def _save(vol: np.ndarray, affine: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(vol, affine)
    img.header.set_xyzt_units("mm")
    img.header.set_sform(affine, code=1)
    img.header.set_qform(affine, code=1)
    img.header["descrip"] = b"medray real corpus: see manifest.json"
    nib.save(img, path)


def _grid(vol: np.ndarray, affine: np.ndarray) -> dict:
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    return {"shape_ras": [int(s) for s in vol.shape], "voxel_mm": [round(float(z), 4) for z in zooms],
            "axial_slices": int(vol.shape[2]), "axial_inplane": [int(vol.shape[1]), int(vol.shape[0])]}


def _write_volume(src: Source, b: Built, out: Path, labels_in_roots: bool) -> dict:
    entry = {"source": src.key, "family": src.family, "role": src.role, "modality": src.modality, "real": True,
             "what": src.what, "origin": src.origin, "licence": src.licence, **_grid(b.image, b.affine),
             "derived": b.notes, "labels": None}
    if b.label is None:
        path = out / src.role / "nifti" / f"{src.key}.nii.gz"
        _save(b.image, b.affine, path)
    else:
        folder = (out / src.role / "brats" / src.key) if labels_in_roots else (out / "labels" / src.role / src.key)
        path = folder / f"{src.key}_t1.nii.gz"
        _save(b.image, b.affine, path)
        _save(b.label, b.affine, folder / f"{src.key}_seg.nii.gz")
        values, counts = np.unique(b.label, return_counts=True)
        entry["labels"] = {"path": (folder / f"{src.key}_seg.nii.gz").relative_to(out).as_posix(), "kind": src.labels,
                           "voxels": {int(v): int(c) for v, c in zip(values, counts)}}
        if not labels_in_roots:  # the T1 also goes into the role folder as plain NIfTI, so ingest sees it
            path = out / src.role / "nifti" / f"{src.key}.nii.gz"
            _save(b.image, b.affine, path)
    entry["path"] = path.relative_to(out).as_posix()
    return entry


def _dicom_entries(src: Source, out: Path) -> list[dict]:
    from medray.datasets.dicom_files import copy_dicom

    entries = []
    for e in copy_dicom(out / src.role / "dicom"):  # paths come back relative to out/<role>
        entries.append({"source": src.key, "family": src.family, "role": src.role, "modality": e["modality"],
                        "real": True, "what": e["what"], "origin": src.origin, "licence": src.licence,
                        "path": f"{src.role}/{e['path']}", "transfer_syntax": e["transfer_syntax"], "labels": None})
    return entries


def build_real_corpus(out: Path, *, require_all: bool = False, labels_in_roots: bool = False) -> dict:
    """Write the corpus under ``out``; return the manifest (also ``out/manifest.json``).

    A source whose files are not installed is skipped and listed under ``missing`` (``require_all`` raises instead).
    """
    check_roles()
    out = Path(out)
    for role in ROLES:
        if (out / role).exists():
            shutil.rmtree(out / role)  # a rebuild never mixes old and new files
    shutil.rmtree(out / "labels", ignore_errors=True)
    volumes, missing = [], {}
    for src in SOURCES:
        gaps = src.missing()
        if gaps:
            missing[src.key] = gaps
            log.warning("real corpus: %s skipped, not installed: %s", src.key, "; ".join(gaps))
            continue
        if src.key == "pydicom-test-files":
            volumes.extend(_dicom_entries(src, out))
            continue
        volumes.append(_write_volume(src, BUILDERS[src.key](src), out, labels_in_roots))
        log.info("real corpus: %s → %s", src.key, volumes[-1]["path"])
    if require_all and missing:
        raise ConfigError(f"real corpus sources not installed (run ./scripts/setup as root): {sorted(missing)}")
    manifest = {
        "generator": "medray.datasets.real_corpus", "real_only": True,
        "roles": {r: sorted({v["source"] for v in volumes if v["role"] == r}) for r in ROLES},
        "ingest": {r: f"{r}/" for r in ROLES},
        "rule": "train on train/ only; evaluate on eval/ only; a family (subject or template population) is in one role",
        "eval_is_held_out": True,
        "label_values": {"0": "background", "10": "CSF", "11": "grey matter", "12": "white matter",
                         "1": "necrosis", "2": "edema", "4": "enhancing tumour"},
        "labels_in_roots": labels_in_roots,
        "icbm152_family_unused": list(ICBM152_FAMILY_UNUSED),
        "volumes": volumes, "missing": missing,
    }
    text = json.dumps(manifest, indent=2)
    (out / "manifest.json").write_text(text)
    return json.loads(text)


def out_hint(role: str) -> str:
    return f"ingest {role}/ " + ("for evaluation only" if role == EVAL else "for training")


def summary(manifest: dict) -> str:
    """One line per role: sources and axial slices before ingest's empty-slice filter."""
    lines = []
    for role in ROLES:
        vols = [v for v in manifest["volumes"] if v["role"] == role]
        parts = [f"{v['source']}:{v.get('axial_slices', 1)}" for v in vols]
        lines.append(f"{role} ({out_hint(role)}): {len(vols)} files; axial slices before ingest's empty-slice filter: "
                     + ", ".join(parts))
    if manifest["missing"]:
        lines.append("missing: " + ", ".join(sorted(manifest["missing"])))
    return "\n".join(lines)


__all__ = ["build_real_corpus", "summary", "EVAL"]
