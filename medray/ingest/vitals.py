"""Per-patient vitals table (CSV or Parquet) → pseudonymised lookup + ``out/vitals.parquet``.

Columns: ``patient_id, heart_rate, spo2, temperature, mobility`` (raw units: bpm, %, °C, 0..1), one row per
patient, keyed by the same ids as the scans (BraTS folder prefix, NIfTI file stem, DICOM PatientID). The ids are
pseudonymised with the ingest salt before anything is written, so vitals and shards join on the pseudonym.
Empty cells are allowed (that vital is absent); a value outside its plausible range refuses the whole table
with ``InputError('bad_vitals')`` — a silently wrong heart rate would poison every degraded image of a patient.
"""
from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medray.config import InputError
from medray.ingest.deid import pseudonym
from medray.vitals.fields import RANGES, VITALS_FIELDS  # the one list and its plausible ranges
VITALS_SCHEMA = pa.schema([pa.field("patient_id", pa.string(), nullable=False)]
                          + [pa.field(f, pa.float32()) for f in VITALS_FIELDS])


def read_table(path: Path) -> pa.Table:
    path = Path(path)
    if not path.is_file():
        raise InputError("bad_vitals", f"vitals table {str(path)!r} does not exist")
    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path)
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"patient_id": pa.string()}))
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError("bad_vitals", f"cannot read {path.name} as CSV/Parquet: {str(e).splitlines()[0][:120]}") from e


def load_vitals(path: Path, salt: str) -> dict[str, dict[str, float | None]]:
    """→ {patient pseudonym: {field: value or None}}; validates columns and ranges."""
    table = read_table(path)
    need = ("patient_id",) + VITALS_FIELDS
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise InputError("bad_vitals", f"missing column(s) {missing}; expected {list(need)}")
    rows = table.select(list(need)).to_pylist()
    out: dict[str, dict[str, float | None]] = {}
    for i, row in enumerate(rows, start=1):
        pid = row["patient_id"]
        if pid is None or str(pid).strip() == "":
            raise InputError("bad_vitals", f"row {i}: empty patient_id")
        vals = {}
        for f in VITALS_FIELDS:
            v = row[f]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                vals[f] = None
                continue
            lo, hi = RANGES[f]
            if not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
                raise InputError("bad_vitals", f"row {i}: {f}={v!r} outside [{lo:g}, {hi:g}]")
            vals[f] = float(v)
        out[pseudonym(salt, "patient", str(pid).strip())] = vals
    return out


def write_vitals(vitals: dict[str, dict[str, float | None]], path: Path) -> None:
    ids = sorted(vitals)
    cols = {"patient_id": ids} | {f: [vitals[i][f] for i in ids] for f in VITALS_FIELDS}
    pq.write_table(pa.table(cols, schema=VITALS_SCHEMA), path)
