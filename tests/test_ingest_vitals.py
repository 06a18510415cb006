"""Vitals table: validation, pseudonymisation, Parquet output."""
import pyarrow.parquet as pq
import pytest

from medray.config import InputError
from medray.ingest.deid import pseudonym
from medray.ingest.vitals import load_vitals, write_vitals

HEADER = "patient_id,heart_rate,spo2,temperature,mobility\n"


def test_vitals_pseudonymised_with_absent_cells(tmp_path):
    f = tmp_path / "v.csv"
    f.write_text(HEADER + "P7,88,97.5,37.1,0.4\nP8,,99,36.5,\n")
    v = load_vitals(f, salt="s")
    assert v[pseudonym("s", "patient", "P7")] == {"heart_rate": 88.0, "spo2": 97.5, "temperature": 37.1, "mobility": 0.4}
    assert v[pseudonym("s", "patient", "P8")]["heart_rate"] is None
    write_vitals(v, tmp_path / "v.parquet")
    t = pq.read_table(tmp_path / "v.parquet")
    assert t.num_rows == 2 and "P7" not in t.column("patient_id").to_pylist()


@pytest.mark.parametrize("body,needle", [
    ("P1,88,97,37,1.5\n", "mobility=1.5"), ("P1,400,97,37,0.1\n", "heart_rate=400"), (",88,97,37,0.1\n", "patient_id"),
])
def test_bad_vitals_refused_with_row_and_field(tmp_path, body, needle):
    f = tmp_path / "v.csv"
    f.write_text(HEADER + body)
    with pytest.raises(InputError) as e:
        load_vitals(f, salt="s")
    assert e.value.reason == "bad_vitals" and needle in str(e.value)


def test_missing_columns_named(tmp_path):
    f = tmp_path / "v.csv"
    f.write_text("patient_id,heart_rate\nP1,80\n")
    with pytest.raises(InputError, match="spo2"):
        load_vitals(f, salt="s")


@pytest.mark.parametrize("name", ["heart_rate", "spo2", "temperature", "mobility"])
def test_stream_and_ingest_share_the_one_set_of_ranges(tmp_path, name):
    """medray.vitals.fields is the only place ranges live: the Kafka message validator and the ingest table
    accept exactly its bounds and refuse just beyond them (temperature once disagreed: 25 vs 30 °C)."""
    import json

    from medray.vitals import fields
    from medray.vitals.schema import parse_message

    lo, hi = fields.RANGES[name]
    ok = {"heart_rate": 72, "spo2": 98, "temperature": 36.8, "mobility": 0.2}
    eps = 1e-3 * (hi - lo)
    for value, accepted in ((lo, True), (hi, True), (lo - eps, False), (hi + eps, False)):
        row = {**ok, name: value}
        msg = json.dumps({"v": 1, "patient_id": "P1", "ts": "2026-01-01T00:00:00Z", **row}).encode()
        f = tmp_path / "v.csv"
        f.write_text(HEADER + "P1," + ",".join(str(row[k]) for k in fields.VITALS_FIELDS) + "\n")
        for check in (lambda: parse_message(msg), lambda: load_vitals(f, salt="s")):
            if accepted:
                check()
            else:
                with pytest.raises(InputError):
                    check()
