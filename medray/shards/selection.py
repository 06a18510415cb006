"""Which files in a shard folder are slice shards, what they hold, and Ray Data datasets over them.

The ingest folder also holds ``vitals.parquet`` (another schema) and ``manifest.json``, so the reader lists the
Parquet files itself and keeps only those whose schema has the slice columns. Filtering (split, channels,
modality, presence of the requested LR scale) runs on Arrow batches so the big image lists are never touched.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from medray.config import InputError, check_choice
from medray.data.channels import explode_channels
from medray.shards.schema import SIZE, SPLITS, VITALS_FIELDS, decode_image, decode_mask, lr_column

INDEX_COLUMNS = ["split", "n_channels", "modality"]
# the LR columns are added per request: only the scale being trained is read
BASE_COLUMNS = ["patient_id", "modality", "n_channels", "slice_index", "split", "hr", "mask", *VITALS_FIELDS]


def shard_files(shards: Path) -> list[str]:
    """Slice-shard Parquet files under ``shards`` (sorted), or InputError when there are none."""
    root = Path(shards)
    if not root.is_dir():
        raise InputError("no_shards", f"shard folder {str(root)!r} does not exist")
    files = []
    for f in sorted(root.rglob("*.parquet")):
        try:
            names = pq.read_schema(f).names
        except (pa.ArrowInvalid, OSError):
            continue  # a partial or foreign file: not a shard
        if "hr" in names and "split" in names:
            files.append(str(f))
    if not files:
        raise InputError("empty_shards", f"no slice shards (*.parquet with an 'hr' column) under {str(root)!r}")
    return files


@dataclass(frozen=True)
class ShardIndex:
    """Row counts of a shard folder, read from the small columns only."""

    n_rows: int
    by_split: dict
    by_split_channels: dict  # (split, n_channels) → rows
    modalities: dict  # (split, modality) → rows


def shard_index(shards: Path) -> ShardIndex:
    table = pa.concat_tables(
        [pq.read_table(f, columns=INDEX_COLUMNS) for f in shard_files(shards)]
    )
    split = table.column("split").to_pylist()
    chans = table.column("n_channels").to_pylist()
    mods = table.column("modality").to_pylist()
    return ShardIndex(
        n_rows=table.num_rows,
        by_split=dict(Counter(split)),
        by_split_channels=dict(Counter(zip(split, chans))),
        modalities=dict(Counter(zip(split, mods))),
    )


def check_selection(shards: Path, split: str, n_channels: int | None = None, modality: str | None = None) -> int:
    """Number of rows the selection holds; InputError naming what *is* there when it holds none."""
    check_choice("split", split, SPLITS)
    idx = shard_index(shards)
    if idx.by_split.get(split, 0) == 0:
        raise InputError("missing_split", f"split {split!r} has no rows in {str(shards)!r}; present: {idx.by_split}")
    n = sum(c for (s, ch), c in idx.by_split_channels.items() if s == split and (n_channels is None or ch == n_channels))
    if n == 0:
        have = sorted({ch for (s, ch) in idx.by_split_channels if s == split})
        raise InputError("channel_mismatch",
                         f"split {split!r} has no {n_channels}-channel rows; channel counts present: {have}")
    if modality is not None and idx.modalities.get((split, modality), 0) == 0:
        raise InputError("missing_modality", f"split {split!r} has no {modality!r} rows; present: {idx.modalities}")
    return n


def _select(table: pa.Table, split: str, n_channels: int | None, modality: str | None, lr_col: str | None,
            require_mask: bool = False, channels_as_samples: bool = False) -> pa.Table:
    if channels_as_samples:  # every row qualifies; its channels become single-channel rows below
        return explode_channels(_select(table, split, None, modality, lr_col, require_mask))
    mask = pc.equal(table.column("split"), split)
    if require_mask:
        mask = pc.and_(mask, pc.is_valid(table.column("mask")))
    if n_channels is not None:
        mask = pc.and_(mask, pc.equal(table.column("n_channels"), n_channels))
    if modality is not None:
        mask = pc.and_(mask, pc.equal(table.column("modality"), modality))
    if lr_col is not None:
        mask = pc.and_(mask, pc.is_valid(table.column(lr_col)))
    return table.filter(mask)


def read_shards(shards: Path, split: str, *, scale: int | None = None, n_channels: int | None = None,
                modality: str | None = None, require_mask: bool = False, channels_as_samples: bool = False):
    """Ray Data dataset of the selected rows (undecoded cells); rows without the requested LR scale are dropped.
    ``channels_as_samples``: every row, each channel as a single-channel row (see medray.data.channels)."""
    import ray.data

    check_selection(shards, split, None if channels_as_samples else n_channels, modality)
    lr_col = lr_column(scale) if scale is not None else None
    columns = BASE_COLUMNS + ([lr_col] if lr_col else [])
    ds = ray.data.read_parquet(shard_files(shards), columns=columns, partitioning=None)
    return ds.map_batches(_select, batch_format="pyarrow", fn_kwargs=dict(
        split=split, n_channels=n_channels, modality=modality, lr_col=lr_col, require_mask=require_mask,
        channels_as_samples=channels_as_samples))


def read_rows_local(shards: Path, split: str, *, scale: int | None = None, n_channels: int | None = None,
                    modality: str | None = None, limit: int | None = None,
                    channels_as_samples: bool = False) -> pa.Table:
    """Same selection with plain pyarrow (no Ray) for evaluation and benchmarks on one process."""
    check_selection(shards, split, None if channels_as_samples else n_channels, modality)
    lr_col = lr_column(scale) if scale is not None else None
    columns = BASE_COLUMNS + ([lr_col] if lr_col else [])
    parts, n = [], 0
    for f in shard_files(shards):
        t = _select(pq.read_table(f, columns=columns), split, n_channels, modality, lr_col,
                    channels_as_samples=channels_as_samples)
        parts.append(t)
        n += t.num_rows
        if limit is not None and n >= limit:
            break
    table = pa.concat_tables(parts)
    # slices in a stable order (patient, slice) so evaluation tables and grids are reproducible
    table = table.sort_by([("patient_id", "ascending"), ("slice_index", "ascending")])
    return table.slice(0, limit) if limit is not None else table


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
