"""PixMed's training and evaluation folders: the real-scan corpus's tissue-labelled T1s, on a 1 mm grid, each
as a healthy copy and as copies with a seeded synthetic lesion drawn into both the label map and the T1.

Input: a corpus written by ``medray demo-data --source real --out REAL`` (``real_corpus.build_real_corpus``):
every subject with ``labels: tissue`` (TRAIN: MNI152 2009a, Colin27; EVAL: the ITK KmeansTest subject).
Output, ingestable as 1-channel t1+seg units (roles stay apart, so training never sees the EVAL subject)::

    out/<role>/brats/<source>-h/<source>-h_{t1,seg}.nii.gz      healthy: the real T1 and its tissue labels
    out/<role>/brats/<source>-l<k>/<source>-l<k>_{t1,seg}.nii.gz lesion k: labels 1/2/4 over the tissue labels,
                                                                 the T1 darkened there (tumour.apply_lesion)
    out/pixmed_manifest.json

What is real: the anatomy, the T1 intensities outside lesions and the tissue label maps (as derived by
``tissue_labels``). What is synthetic: every lesion (shape from ``tumour.make_tumour``, T1 intensity from
``tumour.LESION_INTENSITY`` scaled to the subject's white matter). The pyradiomics tumour masks are not used
here: they label a contrast-enhanced T1 with no tissue map, which an anatomy-conditioned model cannot use.

Resampling to 1 mm isotropic matters for the EVAL subject (2 × 3 × 2 mm voxels): ingest squares slices by
voxel count, so anisotropic voxels would squash its brain. The EVAL T1 is skull-stripped by its labels (the
TRAIN T1s are skull-stripped templates), so the real slice and the map cover the same tissue.
"""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from medray.config import ConfigError
from medray.datasets.tissue_labels import WM, tissue_means
from medray.datasets.tumour import TumourParams, apply_lesion, make_tumour

VOXEL_MM = 1.0
# tumour.TumourParams are in 2 mm voxels; on the 1 mm grid every radius doubles
LESION_PARAMS_1MM = TumourParams(edema_radius_vox=(14.0, 24.0))
HEALTHY_WM_T1 = 0.85  # tumour.LESION_INTENSITY's scale: healthy WM on T1


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(img.dataobj), np.asarray(img.affine)


def to_isotropic(t1: np.ndarray, seg: np.ndarray, affine: np.ndarray, mm: float = VOXEL_MM):
    """T1 (linear) and labels (nearest) resampled to ``mm`` voxels; the affine scaled to match."""
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    f = zooms / mm
    if np.allclose(f, 1.0):
        return t1.astype(np.float32), seg.astype(np.uint8), affine
    t1r = ndimage.zoom(t1.astype(np.float32), f, order=1)
    segr = ndimage.zoom(seg.astype(np.uint8), f, order=0)
    aff = affine.copy()
    aff[:3, :3] = affine[:3, :3] / f
    return t1r, segr, aff


def draw_lesion(t1: np.ndarray, seg: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """One seeded lesion in white matter: labels 1/2/4 over the tissue map, T1 intensities as tumour.py draws them
    (its 0..1 scale mapped to this subject by its white-matter mean)."""
    brain = seg > 0
    lesion, summary = make_tumour(brain, (seg == WM).astype(np.float32), rng, LESION_PARAMS_1MM)
    scale = tissue_means(t1, seg)[WM] / HEALTHY_WM_T1
    t1_l = apply_lesion({"t1": t1 / scale}, lesion, rng, LESION_PARAMS_1MM)["t1"] * scale
    t1_l = np.where(brain, t1_l, t1)  # lesion texture stays inside the brain
    seg_l = np.where(lesion > 0, lesion, seg).astype(np.uint8)
    return t1_l.astype(np.float32), seg_l, summary


def _save(vol: np.ndarray, affine: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(vol, affine)
    img.header.set_sform(affine, code=1)
    img.header.set_qform(affine, code=1)
    img.header["descrip"] = b"medray pixmed corpus: see pixmed_manifest.json"
    nib.save(img, path)


def build_pixmed_corpus(real: Path, out: Path, lesions: dict[str, int] | None = None, seed: int = 0) -> dict:
    """Write healthy + lesioned copies of every tissue-labelled subject of the real corpus at ``real``.

    ``lesions``: lesioned copies per role (default train 3, eval 2). Deterministic from ``seed``."""
    lesions = {"train": 3, "eval": 2, **(lesions or {})}
    real, out = Path(real), Path(out)
    manifest_path = real / "manifest.json"
    if not manifest_path.exists():
        raise ConfigError(f"{manifest_path} not found: build it with `medray demo-data --source real --out {real}`")
    vols = [v for v in json.loads(manifest_path.read_text())["volumes"]
            if v.get("labels") and v["labels"]["kind"] == "tissue"]
    if not vols:
        raise ConfigError(f"{real} has no tissue-labelled subject (mni152-2009a, colin27, itk-kmeans-t1)")
    records = []
    for v in vols:
        key, role = v["source"], v["role"]
        seg_path = real / v["labels"]["path"]
        t1_0, aff = _load(seg_path.with_name(f"{key}_t1.nii.gz"))
        seg_0, _ = _load(seg_path)
        t1, seg, aff = to_isotropic(t1_0, seg_0, aff)
        t1 = np.where(seg > 0, t1, 0.0).astype(np.float32)  # skull-stripped like the templates
        copies = [("h", t1, seg, None)]
        for k in range(lesions[role]):
            rng = np.random.default_rng(np.random.SeedSequence([seed, k, *key.encode()]))
            copies.append((f"l{k}", *draw_lesion(t1, seg, rng)))
        for tag, img, lab, summary in copies:
            name = f"{key}-{tag}"
            folder = out / role / "brats" / name
            _save(img, aff, folder / f"{name}_t1.nii.gz")
            _save(lab, aff, folder / f"{name}_seg.nii.gz")
            records.append({"subject": name, "source": key, "role": role, "lesion": summary,
                            "shape": [int(s) for s in img.shape], "voxel_mm": VOXEL_MM,
                            "labels": sorted(int(x) for x in np.unique(lab)),
                            "t1_means": {str(k2): round(m, 2) for k2, m in tissue_means(img, lab).items()}})
    manifest = {"generator": "medray.datasets.pixmed_corpus", "seed": seed, "from": str(real),
                "real": ["anatomy and T1 intensities outside lesions", "tissue label maps (see real corpus manifest)"],
                "synthetic": ["lesions: shape, labels 1/2/4 and their T1 intensities"],
                "ingest": {"train": "train/", "eval": "eval/ (held out: evaluation only)"}, "subjects": records}
    out.mkdir(parents=True, exist_ok=True)
    (out / "pixmed_manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
