"""Tiny seeded shards written straight with pyarrow + schema.SCHEMA, for train tests that need control over
the rows (channel counts, missing scales, empty splits). The end-to-end path uses ingest's ``tiny_shards``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from medray.shards.schema import SCHEMA, SCHEMA_VERSION, SIZE, encode_image


def _smooth(rng: np.random.Generator, n_channels: int) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    img = np.zeros((n_channels, SIZE, SIZE), np.float32)
    for c in range(n_channels):
        for _ in range(4):
            cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
            img[c] += rng.uniform(0.3, 0.7) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img[c] += 0.1 * np.sin(rng.uniform(10, 30) * yy) * np.cos(rng.uniform(10, 30) * xx)
    return np.clip(img, 0, 1)


def _down(img: np.ndarray, s: int) -> np.ndarray:
    c = img.shape[0]
    return img.reshape(c, SIZE // s, s, SIZE // s, s).mean(axis=(2, 4))


def write_tiny_shards(out: Path, *, n_channels: int = 1, splits=(("train", 3), ("val", 1), ("test", 1)),
                      slices: int = 3, scales=(2, 4), seed: int = 0, vitals: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n_patients in splits:
        for p in range(n_patients):
            pid = f"{split}-p{p}"
            for k in range(slices):
                hr = _smooth(rng, n_channels)
                mask = (hr[0] > np.quantile(hr[0], 0.9)).astype(np.uint8) * 2
                rows.append({
                    "schema_version": SCHEMA_VERSION, "patient_id": pid, "series_id": pid + "-s",
                    "source_format": "brats" if n_channels == 4 else "nifti", "modality": "MR",
                    "channels": "t1,t1ce,t2,flair" if n_channels == 4 else "t1", "n_channels": n_channels,
                    "slice_index": k, "n_slices": slices, "split": split, "hr": encode_image(hr),
                    "lr_x2": encode_image(_down(hr, 2)) if 2 in scales else None,
                    "lr_x4": encode_image(_down(hr, 4)) if 4 in scales else None,
                    "mask": mask.ravel(), "spacing_mm": [1.0, 1.0, 1.0], "degradation": json.dumps({"kind": "box"}),
                    "heart_rate": 70.0 + p if vitals else None, "spo2": 97.0 if vitals else None,
                    "temperature": 36.9 if vitals else None, "mobility": 0.3 if vitals else None,
                })
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), out / "part-0000.parquet")
    # a vitals table beside the shards, as ingest writes it: the reader must skip it
    pq.write_table(pa.table({"patient_id": ["x"], "heart_rate": [70.0]}), out / "vitals.parquet")
    return out
