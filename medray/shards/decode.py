"""Shard cells → arrays: a batch of undecoded rows (from either reader) → float images and label maps."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from medray.config import InputError
from medray.shards.schema import SIZE, decode_image, decode_mask, lr_column


def decode_batch(batch: dict, n_channels: int, scale: int | None) -> dict:
    """Numpy/pylist batch of shard cells → float32 ``hr`` [B,C,S,S], ``lr`` [B,C,S/s,S/s], uint8 ``mask`` [B,S,S]
    (zeros where absent) and bool ``has_mask`` [B]."""
    hr_cells = batch["hr"]
    out = {"hr": np.stack([decode_image(c, n_channels, SIZE) for c in hr_cells])}
    if scale is not None:
        lr_cells = batch.get(lr_column(scale))
        if lr_cells is None or any(c is None for c in lr_cells):
            raise InputError("missing_scale", f"a shard row has no ×{scale} LR image (ingest with --scales {scale})")
        out["lr"] = np.stack([decode_image(c, n_channels, SIZE // scale) for c in lr_cells])
    masks = [decode_mask(c) if c is not None else None for c in batch.get("mask", [None] * len(hr_cells))]
    out["has_mask"] = np.array([m is not None for m in masks])
    out["mask"] = np.stack([m if m is not None else np.zeros((SIZE, SIZE), np.uint8) for m in masks])
    return out


def table_to_batch(table: pa.Table) -> dict:
    """pyarrow table → dict of python/numpy columns in the shape ``decode_batch`` takes."""
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
