"""The seeds of the fuzzing runs and what a fuzzed input is (benchmarks/fuzz_mutators.py, fuzz_bombs.py).

Seeds are real inputs shipped in PyPI packages: pydicom's CT_small.dcm and MR_small.dcm, a cropped NIfTI of
nilearn's MNI152 2 mm template, and a 16-bit PNG of its middle slice (nothing is downloaded).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MEDIA = {"dicom": "application/dicom", "nifti": "application/x-nifti", "nifti_gz": "application/gzip",
         "png": "image/png"}
SUFFIX = {"dicom": ".dcm", "nifti": ".nii", "nifti_gz": ".nii.gz", "png": ".png"}
INGESTIBLE = ("dicom", "nifti", "nifti_gz")  # ingest does not read PNG


@dataclass(frozen=True)
class Seed:
    name: str
    kind: str  # dicom | nifti | png
    data: bytes


@dataclass(frozen=True)
class Mutant:
    index: int
    seed: str
    kind: str  # how it is named/sent: dicom | nifti | nifti_gz | png
    mutators: tuple[str, ...]  # () for a valid (unmutated) input
    data: bytes

    @property
    def valid(self) -> bool:
        return not self.mutators

    @property
    def media_type(self) -> str:
        return MEDIA[self.kind]

    @property
    def suffix(self) -> str:
        return SUFFIX[self.kind]


# ---------------------------------------------------------------- seeds (real files)

@lru_cache(maxsize=1)
def load_seeds() -> tuple[Seed, ...]:
    import nibabel as nib
    import pydicom
    from nilearn.datasets import load_mni152_template
    from PIL import Image

    files = Path(pydicom.__file__).parent / "data" / "test_files"  # on disk in the wheel; never downloads
    seeds = [Seed(n.split(".")[0], "dicom", (files / n).read_bytes()) for n in ("CT_small.dcm", "MR_small.dcm")]
    mni = load_mni152_template(resolution=2)
    raw = mni.get_fdata()[20:80, 20:100, 44:47]  # 60×80×3 axial crop through the brain
    vol = np.rint(raw / max(raw.max(), 1e-6) * 1000).astype(np.int16)
    affine = mni.affine.copy()
    affine[:3, 3] += affine[:3, :3] @ np.array([20, 20, 44])
    img = nib.Nifti1Image(vol, affine)
    img.set_qform(affine, code=1)
    seeds.append(Seed("MNI152_2mm_crop", "nifti", img.to_bytes()))
    mid = vol[:, :, 1].astype(np.float64)
    arr16 = np.rint(mid / max(mid.max(), 1) * 65535).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr16).save(buf, format="PNG")
    seeds.append(Seed("MNI152_slice16", "png", buf.getvalue()))
    return tuple(seeds)
