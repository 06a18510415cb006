"""Shard rows as a Ray Data dataset, for training: the selection runs on Arrow batches in the workers and only
the columns the request needs (one LR scale) are read."""
from __future__ import annotations

from pathlib import Path

from medray.shards.layout import shard_files
from medray.shards.schema import lr_column
from medray.shards.selection import BASE_COLUMNS, check_selection, select_rows


def read_shards(shards: Path, split: str, *, scale: int | None = None, n_channels: int | None = None,
                modality: str | None = None, require_mask: bool = False, channels_as_samples: bool = False):
    """Ray Data dataset of the selected rows (undecoded cells); rows without the requested LR scale are dropped.
    ``channels_as_samples``: every row, each channel as a single-channel row (see medray.shards.channels)."""
    import ray.data  # only the Ray readers need Ray; local readers and ingest's layout do not

    check_selection(shards, split, None if channels_as_samples else n_channels, modality)
    lr_col = lr_column(scale) if scale is not None else None
    columns = BASE_COLUMNS + ([lr_col] if lr_col else [])
    ds = ray.data.read_parquet([str(f) for f in shard_files(shards)], columns=columns, partitioning=None)
    return ds.map_batches(select_rows, batch_format="pyarrow", fn_kwargs=dict(
        split=split, n_channels=n_channels, modality=modality, lr_col=lr_col, require_mask=require_mask,
        channels_as_samples=channels_as_samples))
