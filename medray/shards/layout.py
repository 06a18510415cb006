"""Where ingest puts things inside its output folder ``OUT``, and which files are slice shards (readers use
``shard_files``, never their own glob):

    OUT/shards/*.parquet   slice rows with medray.shards.schema.SCHEMA, written by Ray Data
    OUT/manifest.json      counts per split/modality, schema version, parameters
    OUT/rejects.jsonl      one line per refused file
    OUT/vitals.parquet     pseudonymised per-patient vitals (only with --vitals)

Shards sit in their own sub-folder so that reading the folder as one Parquet dataset never picks up
``vitals.parquet`` (a different schema); ``shard_files`` also checks each file's schema, so a folder of
shards written by hand (tests) or a partial file left by a crash is handled the same way.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medray.config import InputError

SHARDS = "shards"
MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
VITALS = "vitals.parquet"
SLICE_COLUMNS = ("hr", "split")  # a Parquet file whose schema lacks these is not a slice shard


def shards_dir(out: Path) -> Path:
    return Path(out) / SHARDS


def shard_files(path: Path, *, missing_ok: bool = False) -> list[Path]:
    """Slice-shard Parquet files (sorted) of an ingest output; ``path`` may be OUT, OUT/shards or any folder of
    shards. Files without the slice columns (vitals, foreign or partial files) are skipped. InputError
    ``no_shards`` / ``empty_shards`` when the folder is absent or holds no shard, unless ``missing_ok`` (then [])."""
    path = Path(path)
    folder = shards_dir(path) if (path / SHARDS).is_dir() else path
    if not folder.is_dir():
        if missing_ok:
            return []
        raise InputError("no_shards", f"shard folder {str(path)!r} does not exist")
    files = []
    for f in sorted(folder.rglob("*.parquet")):
        try:
            names = pq.read_schema(f).names
        except (pa.ArrowInvalid, OSError):
            continue  # a partial or foreign file: not a shard
        if all(c in names for c in SLICE_COLUMNS):
            files.append(f)
    if not files and not missing_ok:
        raise InputError("empty_shards", f"no slice shards (*.parquet with an 'hr' column) under {str(path)!r}")
    return files
