"""``medray ingest``: discovery and splits in the driver, decoding/slicing/degradation on Ray Data, Parquet out.

    units (driver) ──► ray.data.from_items ──► map_batches(process one unit → Arrow rows) ──► write_parquet
                                                      └──► RejectSink actor (typed refusals)

Every unit becomes its own block, so Ray schedules one decode task per volume/series on any free CPU.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medray.config import ConfigError, check_range
from medray.shards import layout
from medray.imaging import degrade as D
from medray.shards import schema as S
from medray.ingest.deid import resolve_salt
from medray.ingest.discover import discover
from medray.imaging.normalise import MRI_PERCENTILES, check_ct_window
from medray.ingest.process import Options, process_unit
from medray.ingest.slicing import FOREGROUND_LEVEL, MIN_FOREGROUND
from medray.ingest.rejects import Reject, write_rejects
from medray.ingest.split import FRACTIONS, assign_splits
from medray.ingest.vitals import load_vitals, write_vitals

log = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    out: Path
    n_slices: int
    n_rejects: int
    n_units: int
    n_ignored: int
    counts: dict = field(default_factory=dict)
    elapsed_s: float = 0.0


def make_options(scales=(2, 4), seed=0, ct_window="soft_tissue", file_timeout_s=60.0, slice_step=1) -> Options:
    scales = tuple(sorted(set(int(s) for s in scales)))
    if not scales or any(s not in S.SCALES for s in scales):
        raise ConfigError(f"scales={list(scales)!r} is not valid; choose from {list(S.SCALES)}")
    check_range("file_timeout_s", file_timeout_s, lo=0.001)
    if not isinstance(slice_step, int) or slice_step < 1:
        raise ConfigError(f"slice_step={slice_step!r} must be an integer ≥ 1")
    return Options(scales=scales, seed=int(seed), ct_window=check_ct_window(ct_window),
                   file_timeout_s=float(file_timeout_s), slice_step=slice_step)


def plan_units(paths: list[Path], salt: str, seed: int, vitals: dict | None, header_timeout_s: float):
    """Driver side: discovery, split per patient, vitals attached → (units, rejects, n_ignored)."""
    found = discover([Path(p) for p in paths], salt, header_timeout_s)
    strata: dict[str, str] = {}
    for u in found.units:
        strata.setdefault(u["patient_id"], u["stratum"])
    splits = assign_splits(strata, seed)
    for u in found.units:
        u["split"] = splits[u["patient_id"]]
        u["vitals"] = (vitals or {}).get(u["patient_id"])
    return found.units, found.rejects, found.n_ignored


def _ray_batch(batch: pa.Table, opts: Options, sink) -> pa.Table:
    """map_batches UDF: each row holds one JSON unit; rejects go to the sink actor before returning."""
    import ray

    tables, rejects = [], []
    for text in batch.column("unit").to_pylist():
        table, rej = process_unit(json.loads(text), opts)
        tables.append(table)
        rejects.extend(asdict(r) for r in rej)
    if rejects:
        ray.get(sink.add.remote(rejects))
    return pa.concat_tables(tables) if tables else S.SCHEMA.empty_table()


class _RejectSink:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, items: list[dict]) -> None:
        self.items.extend(items)

    def drain(self) -> list[dict]:
        return self.items


def run_units_ray(units: list[dict], opts: Options, shards: Path) -> list[Reject]:
    import ray

    if not units:
        return []
    sink = ray.remote(num_cpus=0)(_RejectSink).remote()
    try:
        ds = ray.data.from_items([{"unit": json.dumps(u)} for u in units], override_num_blocks=len(units))
        ds = ds.map_batches(_ray_batch, batch_size=1, batch_format="pyarrow", fn_kwargs={"opts": opts, "sink": sink},
                            num_cpus=1)
        ds.write_parquet(str(shards))
        return [Reject(**r) for r in ray.get(sink.drain.remote())]
    finally:
        ray.kill(sink)


def count_shards(shards: Path) -> dict:
    files = layout.shard_files(shards, missing_ok=True)
    cols = ["split", "modality", "source_format", "patient_id"]
    t = pa.concat_tables([pq.read_table(f, columns=cols) for f in files]) if files else pa.table({c: [] for c in cols})
    rows = t.to_pylist()

    def by(*keys: str) -> dict[str, int]:
        return dict(sorted(Counter("/".join(r[k] for k in keys) for r in rows).items()))

    patients = {s: len({r["patient_id"] for r in rows if r["split"] == s}) for s in S.SPLITS}
    return {"n_slices": len(rows), "slices_by_split": {s: by("split").get(s, 0) for s in S.SPLITS},
            "slices_by_modality": by("modality"), "slices_by_split_modality": by("split", "modality"),
            "slices_by_source_format": by("source_format"), "patients_by_split": patients, "n_files": len(files)}


def run_ingest(paths: list[Path], out: Path, scales=(2, 4), seed: int = 0, salt: str | None = None,
               vitals: Path | None = None, ct_window: str = "soft_tissue", file_timeout_s: float = 60.0,
               slice_step: int = 1) -> IngestSummary:
    """Ingest ``paths`` into ``out`` (see medray.shards.layout). Returns counts; never raises for bad files."""
    t0 = time.perf_counter()
    opts = make_options(scales, seed, ct_window, file_timeout_s, slice_step)
    salt = resolve_salt(salt, None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shards = layout.shards_dir(out)
    for old in layout.shard_files(shards, missing_ok=True):  # a re-run replaces its previous shards instead of appending to them
        old.unlink()
    table = load_vitals(vitals, salt) if vitals is not None else None
    units, rejects, n_ignored = plan_units(paths, salt, opts.seed, table, opts.file_timeout_s)
    log.info("ingest: %d unit(s) to decode, %d file(s) refused at discovery, %d ignored", len(units), len(rejects),
             n_ignored)
    rejects = rejects + run_units_ray(units, opts, shards)
    n_rejects = write_rejects(out / layout.REJECTS, rejects, salt)
    if table is not None:
        write_vitals(table, out / layout.VITALS)
    counts = count_shards(shards)
    reasons = dict(sorted(Counter(r.reason for r in rejects).items()))
    manifest = {
        "format": "medray-shards", "schema_version": S.SCHEMA_VERSION, "layout": {
            "shards": layout.SHARDS, "rejects": layout.REJECTS, "vitals": layout.VITALS if table is not None else None},
        "counts": counts, "n_units": len(units), "n_rejects": n_rejects, "rejects_by_reason": reasons,
        "n_ignored_files": n_ignored, "n_patients_with_vitals": len({u["patient_id"] for u in units if u["vitals"]}),
        "parameters": {"scales": list(opts.scales), "seed": opts.seed, "ct_window": opts.ct_window,
                       "file_timeout_s": opts.file_timeout_s, "slice_step": opts.slice_step,
                       "split_fractions": FRACTIONS, "size": S.SIZE, "vitals_given": table is not None,
                       "degradation": {"blur_sigma_per_scale": D.BLUR_SIGMA_PER_SCALE, "downsample": "area",
                                       "motion_px_per_mobility": D.MOTION_PX_PER_MOBILITY,
                                       "noise_rest_bpm": D.NOISE_REST_BPM, "noise_per_bpm": D.NOISE_PER_BPM},
                       "near_empty": {"foreground_level": FOREGROUND_LEVEL, "min_foreground": MIN_FOREGROUND},
                       "mri_percentiles": list(MRI_PERCENTILES)},
    }
    (out / layout.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    summary = IngestSummary(out=out, n_slices=counts["n_slices"], n_rejects=n_rejects, n_units=len(units),
                            n_ignored=n_ignored, counts=counts, elapsed_s=time.perf_counter() - t0)
    log.info("ingest: %d slice(s) from %d unit(s) in %.1f s; %d file(s) refused (%s); splits %s", summary.n_slices,
             len(units), summary.elapsed_s, n_rejects, reasons, counts["slices_by_split"])
    return summary
