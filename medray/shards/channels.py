"""Channels as samples: a single-channel model learns from multi-channel rows by taking each channel of a row as a
slice of its own (a BraTS row gives a T1, a T1ce, a T2 and a FLAIR slice). Serving takes one grey image (PNG,
DICOM), so the served super-resolver is single-channel; this is how it sees all four MR contrasts in training.

Works on the undecoded Arrow table: each channel-major ``C·n``-value image cell is cut into ``C`` cells of
``n`` values without copying values through Python."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

IMAGE_COLUMNS = ("hr", "lr_x2", "lr_x4")


def _split_cells(column: pa.ChunkedArray | pa.Array, n_out: int) -> pa.Array:
    """List column whose row i holds C_i·n values → n_out rows of n values each, in the same order."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = arr.flatten()  # respects slicing/offsets: the values of row 0, then row 1, …
    if n_out == 0:
        return pa.array([], type=arr.type)
    n, rem = divmod(len(values), n_out)
    if rem:
        raise ValueError(f"image cells hold {len(values)} values, not a multiple of {n_out} channels")
    offsets = pa.array(np.arange(n_out + 1, dtype=np.int32) * n, type=pa.int32())
    return pa.ListArray.from_arrays(offsets, values, type=arr.type)


def explode_channels(table: pa.Table) -> pa.Table:
    """Every row with C channels → C single-channel rows (``n_channels`` 1, ``channels`` the one name), masks,
    vitals and ids repeated. Image columns present in the table must be non-null (select rows first)."""
    counts = table.column("n_channels").to_numpy().astype(np.int64)
    if (counts == 1).all():
        return table
    images = [c for c in IMAGE_COLUMNS if c in table.column_names]
    for c in images:
        if table.column(c).null_count:
            raise ValueError(f"column {c!r} has null cells: select rows that carry it before exploding")
    rows = np.repeat(np.arange(table.num_rows), counts)
    k = np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.array([], np.int64)
    rest = table.drop_columns(images).take(pa.array(rows))
    names = [str(s).split(",") for s in table.column("channels").to_pylist()] if "channels" in table.column_names \
        else None
    out = rest
    if names is not None:
        per = [names[r][j] if j < len(names[r]) else f"c{j}" for r, j in zip(rows, k)]
        out = out.set_column(out.column_names.index("channels"), table.schema.field("channels"),
                             pa.array(per, pa.string()))
    field = table.schema.field("n_channels")  # the field, not just the name: keep its nullability
    out = out.set_column(out.column_names.index("n_channels"), field, pa.array(np.ones(len(rows), np.int8), field.type))
    for c in images:
        out = out.append_column(table.schema.field(c), _split_cells(table.column(c), len(rows)))
    return out.select(table.column_names)
