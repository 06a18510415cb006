"""Shard rows with plain pyarrow in one process (no Ray): evaluation, demo and benchmarks."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medray.shards.layout import shard_files
from medray.shards.schema import lr_column
from medray.shards.selection import BASE_COLUMNS, check_selection, select_rows


def read_rows_local(shards: Path, split: str, *, scale: int | None = None, n_channels: int | None = None,
                    modality: str | None = None, limit: int | None = None,
                    channels_as_samples: bool = False) -> pa.Table:
    """Same selection as ``medray.shards.dataset.read_shards``, as one Arrow table sorted by (patient, slice)."""
    check_selection(shards, split, None if channels_as_samples else n_channels, modality)
    lr_col = lr_column(scale) if scale is not None else None
    columns = BASE_COLUMNS + ([lr_col] if lr_col else [])
    parts, n = [], 0
    for f in shard_files(shards):
        t = select_rows(pq.read_table(f, columns=columns), split, n_channels, modality, lr_col,
                        channels_as_samples=channels_as_samples)
        parts.append(t)
        n += t.num_rows
        if limit is not None and n >= limit:
            break
    table = pa.concat_tables(parts)
    # slices in a stable order (patient, slice) so evaluation tables and grids are reproducible
    table = table.sort_by([("patient_id", "ascending"), ("slice_index", "ascending")])
    return table.slice(0, limit) if limit is not None else table
