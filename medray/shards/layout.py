"""Where ingest puts things inside its output folder ``OUT`` (readers should use these, not guess):

    OUT/shards/*.parquet   slice rows with medray.shards.schema.SCHEMA, written by Ray Data
    OUT/manifest.json      counts per split/modality, schema version, parameters
    OUT/rejects.jsonl      one line per refused file
    OUT/vitals.parquet     pseudonymised per-patient vitals (only with --vitals)

Shards sit in their own sub-folder so that reading the folder as one Parquet dataset never picks up
``vitals.parquet`` (a different schema).
"""
from __future__ import annotations

from pathlib import Path

SHARDS = "shards"
MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"
VITALS = "vitals.parquet"


def shards_dir(out: Path) -> Path:
    return Path(out) / SHARDS


def shard_files(path: Path) -> list[Path]:
    """Shard files of an ingest output; ``path`` may be OUT or OUT/shards."""
    path = Path(path)
    folder = shards_dir(path) if (path / SHARDS).is_dir() else path
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.parquet") if p.name != VITALS)
