"""Patient-level 70/15/15 train/val/test split, deterministic from the seed.

Patients (pseudonyms) are grouped into strata by their primary source kind (BraTS/NIfTI/DICOM-CT/DICOM-MR), so
every split sees every kind when a stratum has enough patients. Within a stratum of n patients, sorted and then
shuffled by ``seed``: for n ≥ 3, val and test each get ``max(1, round(0.15·n))`` and train the rest, so all three
splits are non-empty; n = 2 gives one train and one test patient; n = 1 goes to train. A patient is in exactly one
split by construction, since assignment is a function of the patient.
"""
from __future__ import annotations

import hashlib

import numpy as np

FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}


def _stratum_seed(seed: int, stratum: str) -> list[int]:
    return [seed & 0xFFFFFFFF, int.from_bytes(hashlib.sha256(stratum.encode()).digest()[:4], "little")]


def split_stratum(patients: list[str], seed: int, stratum: str = "") -> dict[str, str]:
    order = sorted(set(patients))
    rng = np.random.default_rng(_stratum_seed(seed, stratum))
    order = [order[i] for i in rng.permutation(len(order))]
    n = len(order)
    if n >= 3:
        n_val = max(1, round(FRACTIONS["val"] * n))
        n_test = max(1, round(FRACTIONS["test"] * n))
        labels = ["val"] * n_val + ["test"] * n_test + ["train"] * (n - n_val - n_test)
    else:
        labels = ["train", "test"][:n]
    return dict(zip(order, labels))


def assign_splits(patient_strata: dict[str, str], seed: int) -> dict[str, str]:
    """patient pseudonym → stratum name  ⇒  patient pseudonym → split."""
    by_stratum: dict[str, list[str]] = {}
    for patient, stratum in patient_strata.items():
        by_stratum.setdefault(stratum, []).append(patient)
    out: dict[str, str] = {}
    for stratum in sorted(by_stratum):
        out.update(split_stratum(by_stratum[stratum], seed, stratum))
    return out
