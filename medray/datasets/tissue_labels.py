"""Tissue and lesion label maps for the PixMed synthesiser, with DESIGN.md's label values.

0 background, 10 CSF, 11 grey matter, 12 white matter, and the BraTS tumour labels 1/2/4. Three ways in:

* probability maps (MNI152 GM/WM templates, CSF = brain − GM − WM): each brain voxel takes its most probable tissue;
* intensity alone (Colin27, T1): a 3-class multi-Otsu threshold of the brain voxels' T1 values — CSF darkest, then
  GM, WM brightest (the T1 order); the thresholds are returned so the manifest can record them;
* ITK's 7-class k-means segmentation of its KmeansTest T1: classes 4/5/6 are the three classes inside the skull
  strip and, by their mean T1 (47.7 / 75.7 / 101.4), CSF / GM / WM; classes 1–3 lie outside the brain
  (background, scalp/muscle, fat) and class 0 is 126 voxels at the strip's edge: all become background.

Tumour ROIs from pyradiomics (a single label 1 around a contrast-enhancing lesion on T1ce) become BraTS 4.
"""
from __future__ import annotations

import numpy as np
from skimage.filters import threshold_multiotsu

BACKGROUND, CSF, GM, WM = 0, 10, 11, 12
NECROSIS, EDEMA, ENHANCING = 1, 2, 4
TISSUE_LABELS = (CSF, GM, WM)
ITK_KMEANS_TO_TISSUE = {4: CSF, 5: GM, 6: WM}


def from_probabilities(brain: np.ndarray, csf: np.ndarray, gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """uint8 label map: inside ``brain`` the tissue with the highest probability, 0 outside."""
    probs = np.stack([csf, gm, wm])
    lab = np.asarray(TISSUE_LABELS, dtype=np.uint8)[np.argmax(probs, axis=0)]
    return np.where(brain, lab, BACKGROUND).astype(np.uint8)


def from_intensity(t1: np.ndarray, brain: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """uint8 label map from T1 intensities inside ``brain`` (3-class multi-Otsu) and the two thresholds used."""
    values = t1[brain]
    if values.size < 100:
        raise ValueError(f"brain mask has {values.size} voxels; too few to threshold")
    lo, hi = (float(t) for t in threshold_multiotsu(values, classes=3))
    lab = np.full(t1.shape, BACKGROUND, dtype=np.uint8)
    lab[brain & (t1 <= lo)] = CSF
    lab[brain & (t1 > lo) & (t1 <= hi)] = GM
    lab[brain & (t1 > hi)] = WM
    return lab, [lo, hi]


def from_itk_kmeans(seg: np.ndarray) -> np.ndarray:
    """ITK KmeansTest 7-class segmentation → CSF/GM/WM labels (see module doc for the class evidence)."""
    lab = np.zeros(seg.shape, dtype=np.uint8)
    for cls, tissue in ITK_KMEANS_TO_TISSUE.items():
        lab[seg == cls] = tissue
    return lab


def tumour_from_roi(roi: np.ndarray) -> np.ndarray:
    """A binary lesion ROI → BraTS enhancing-tumour label 4."""
    return np.where(roi > 0, ENHANCING, BACKGROUND).astype(np.uint8)


def tissue_means(t1: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Mean T1 per tissue label present (a check that CSF < GM < WM on a T1 image)."""
    return {int(v): float(t1[labels == v].mean()) for v in TISSUE_LABELS if np.any(labels == v)}
