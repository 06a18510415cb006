"""Real anatomy for the demo data: nilearn's MNI152 templates, loaded offline from the installed package.

nilearn 0.14.1 ships three 1 mm MNI152 ICBM 2009a (symmetric) volumes inside its wheel
(``nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz``); its loaders
``load_mni152_template`` / ``load_mni152_gm_template`` / ``load_mni152_wm_template`` read them and, with
``resolution=2``, resample to a 2 mm grid (99×117×95) without touching the network. There is **no CSF
template** in the wheel, so CSF is derived here as ``brain − GM − WM`` (clipped to [0, 1]), where ``brain``
is the skull-stripped T1 template's support. That derivation is ours and is recorded in the manifest.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Voxels of the (already skull-stripped) T1 template above this are brain; below is background.
# 0.02 sits far below the 1st percentile of in-brain intensity (≈0.29) and far above background (≈1e-17).
BRAIN_THRESHOLD = 0.02


@dataclass(frozen=True)
class Anatomy:
    """Co-registered 2 mm volumes on one grid, float32, each in [0, 1]."""

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray  # bool
    affine: np.ndarray  # 4×4 voxel → MNI mm
    sources: dict  # name → {"package", "version", "file", "loader"}

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.t1.shape


def load_anatomy(resolution: int = 2) -> Anatomy:
    """Load T1 + GM/WM templates from the installed nilearn and derive CSF and the brain mask."""
    import nilearn
    from nilearn import datasets

    loaders = {
        "t1": (datasets.load_mni152_template, datasets.MNI152_FILE_PATH),
        "gm": (datasets.load_mni152_gm_template, datasets.GM_MNI152_FILE_PATH),
        "wm": (datasets.load_mni152_wm_template, datasets.WM_MNI152_FILE_PATH),
    }
    vols, sources, affine = {}, {}, None
    for name, (loader, path) in loaders.items():
        img = loader(resolution=resolution)
        vols[name] = np.clip(np.asarray(img.get_fdata(), dtype=np.float32), 0.0, 1.0)
        if affine is None:
            affine = np.asarray(img.affine, dtype=np.float64)
        elif not np.allclose(affine, img.affine):
            raise RuntimeError(f"nilearn template {name} is on a different grid than the T1 template")
        sources[name] = {
            "package": "nilearn",
            "version": nilearn.__version__,
            "file": Path(path).name,
            "loader": f"nilearn.datasets.{loader.__name__}(resolution={resolution})",
        }
    brain = vols["t1"] > BRAIN_THRESHOLD
    gm = vols["gm"] * brain
    wm = vols["wm"] * brain
    csf = np.clip(brain.astype(np.float32) - gm - wm, 0.0, 1.0)
    sources["csf"] = {
        "package": "nilearn",
        "version": nilearn.__version__,
        "file": None,
        "loader": f"derived: clip(brain - GM - WM, 0, 1), brain = T1 template > {BRAIN_THRESHOLD}",
    }
    return Anatomy(t1=vols["t1"] * brain, gm=gm, wm=wm, csf=csf, brain=brain, affine=affine, sources=sources)
