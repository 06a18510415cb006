"""Real scans that were never in training, for an honest second evaluation: a model that only wins on its own
(smooth, synthetic-lesion) demo data is not yet useful.

All come from PyPI packages already installed: the first volume of nibabel's ``example4d.nii.gz`` (a real EPI
brain MR; 4-D files are refused by ingest, so the volume is extracted here and said so), and two pydicom test
files the demo data does not use: ``examples_overlay.dcm`` (MR) and ``J2K_pixelrep_mismatch.dcm`` (CT, JPEG 2000).
"""
from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

DICOM_FILES = ("examples_overlay.dcm", "J2K_pixelrep_mismatch.dcm")
LABEL = ("real scans never seen in training: nibabel example4d EPI MR (volume 0), pydicom examples_overlay MR, "
         "pydicom J2K_pixelrep_mismatch CT")


def collect_real_scans(out: Path) -> list[Path]:
    """Copy/extract the scans into ``out`` (one folder per scan, so each is its own patient) and list them."""
    import nibabel as nib

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    epi = Path(str(resources.files("nibabel") / "tests" / "data" / "example4d.nii.gz"))
    if epi.is_file():
        img = nib.load(str(epi))
        vol0 = nib.Nifti1Image(img.dataobj[..., 0], img.affine)
        (out / "epi").mkdir(exist_ok=True)
        nib.save(vol0, out / "epi" / "example4d_vol0.nii.gz")
        paths.append(out / "epi" / "example4d_vol0.nii.gz")
    test_files = Path(str(resources.files("pydicom") / "data" / "test_files"))
    for name in DICOM_FILES:
        src = test_files / name
        if src.is_file():
            (out / src.stem).mkdir(exist_ok=True)
            paths.append(Path(shutil.copy2(src, out / src.stem / name)))
    if not paths:
        raise FileNotFoundError("none of the real held-out scans is installed (nibabel/pydicom test data missing)")
    return paths


def evaluate_on_real_scans(checkpoint: Path, out: Path, max_slices: int = 64) -> dict:
    """Ingest the real scans at ×2 and score the SR checkpoint on every slice of them (whatever split the ingest's
    patient split put each scan in: none of them was ever in training)."""
    from medray.shards.selection import shard_index
    from medray.ingest.deid import DEMO_SALT
    from medray.ingest.run import run_ingest
    from medray.evaluate.checkpoint import evaluate_checkpoint

    collect_real_scans(out / "input")
    summary = run_ingest([out / "input"], out / "shards", scales=(2,), seed=0, salt=DEMO_SALT)
    if summary.n_slices == 0:
        raise ValueError("no slice of the real scans was ingested; see rejects.jsonl")
    results = {}
    for split in sorted(shard_index(out / "shards").by_split):
        results[split] = evaluate_checkpoint(checkpoint, out / "shards", split, out / f"eval_{split}",
                                             max_slices=max_slices, data_label=LABEL)
    return results
