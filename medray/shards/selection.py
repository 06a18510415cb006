"""What a shard folder holds (row counts per split, channel count, modality) and the row selection every reader
applies: split, channels, modality, presence of the requested LR scale. Selection runs on Arrow tables/batches,
so the big image lists are never touched; a selection that holds nothing is an InputError naming what is there.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from medray.config import InputError, check_choice
from medray.shards.channels import explode_channels
from medray.shards.layout import shard_files
from medray.shards.schema import SPLITS, VITALS_FIELDS

INDEX_COLUMNS = ["split", "n_channels", "modality"]
# the LR columns are added per request: only the scale being trained is read
BASE_COLUMNS = ["patient_id", "modality", "n_channels", "slice_index", "split", "hr", "mask", *VITALS_FIELDS]


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


def select_rows(table: pa.Table, split: str, n_channels: int | None, modality: str | None, lr_col: str | None,
                require_mask: bool = False, channels_as_samples: bool = False) -> pa.Table:
    """Rows of ``table`` in the selection; ``lr_col`` given: only rows that carry that LR image."""
    if channels_as_samples:  # every row qualifies; its channels become single-channel rows below
        return explode_channels(select_rows(table, split, None, modality, lr_col, require_mask))
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
