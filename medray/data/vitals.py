"""Per-sample vitals from the shard columns, in the order the generator expects (raw units):
heart_rate (bpm), spo2 (%), temperature (°C), mobility (0..1). A missing value is NaN; a row of NaN means
"no vitals" and the generator falls back to its default α."""
from __future__ import annotations

import numpy as np

from medray.vitals.fields import VITALS_FIELDS


def _as_float(values, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan, dtype=np.float32)
    # Ray hands nullable float columns over as float arrays with NaN or as object arrays holding None
    return np.array([np.nan if v is None else v for v in values], dtype=np.float32)


def vitals_from_batch(batch: dict, n: int | None = None) -> np.ndarray:
    """Numpy batch (dict of columns) → float32 [B, 4] in VITALS_FIELDS order, NaN where missing."""
    if n is None:
        n = len(next(iter(batch.values())))
    cols = [_as_float(batch.get(name), n) for name in VITALS_FIELDS]
    return np.stack(cols, axis=1) if n else np.zeros((0, len(VITALS_FIELDS)), np.float32)
