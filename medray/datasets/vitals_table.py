"""Synthetic per-patient vitals for the demo (``vitals.csv``).

Each patient is drawn into one of three states, so the table has a real spread that ingest's
vitals-dependent degradation (motion blur with mobility, noise with heart rate) can act on:

- ``calm``: resting, still — normal heart rate, SpO2, temperature, low mobility;
- ``moving``: restless in the scanner — normal physiology, high mobility;
- ``distressed``: tachycardic, lower SpO2, febrile, and moving.

Ranges stay physiological (HR 50..150 bpm, SpO2 85..100 %, temperature 35.5..40 °C, mobility 0..1).
Entirely synthetic; the manifest says so.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from medray.vitals.fields import VITALS_FIELDS

COLUMNS = ("patient_id", *VITALS_FIELDS)
STATES = ("calm", "moving", "distressed")

# state → (low, high) uniform ranges per vital.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "calm": {"heart_rate": (58, 82), "spo2": (96, 99.5), "temperature": (36.3, 37.2), "mobility": (0.0, 0.15)},
    "moving": {"heart_rate": (70, 95), "spo2": (95, 99), "temperature": (36.4, 37.4), "mobility": (0.5, 0.95)},
    "distressed": {"heart_rate": (105, 140), "spo2": (87, 93), "temperature": (37.8, 39.5), "mobility": (0.6, 1.0)},
}


def draw_states(n: int, rng: np.random.Generator) -> list[str]:
    """Half calm, a quarter moving, a quarter distressed (each present once n ≥ 3), in random order."""
    n_moving = n // 4 if n >= 4 else int(n >= 3)
    n_distressed = n // 4 if n >= 4 else int(n >= 2)
    states = ["moving"] * n_moving + ["distressed"] * n_distressed
    states += ["calm"] * (n - len(states))
    return [states[i] for i in rng.permutation(n)]


def draw_vitals(patient_ids: list[str], rng: np.random.Generator) -> list[dict]:
    """One row per patient: the COLUMNS plus ``state`` (kept for the manifest, not written to the CSV)."""
    rows = []
    for pid, state in zip(patient_ids, draw_states(len(patient_ids), rng)):
        r = RANGES[state]
        rows.append({
            "patient_id": pid,
            "heart_rate": int(round(rng.uniform(*r["heart_rate"]))),
            "spo2": round(float(rng.uniform(*r["spo2"])), 1),
            "temperature": round(float(rng.uniform(*r["temperature"])), 1),
            "mobility": round(float(rng.uniform(*r["mobility"])), 2),
            "state": state,
        })
    return rows


def write_vitals_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
