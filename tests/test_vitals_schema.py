"""Vitals message schema v1: round trip, documented ranges, and one typed reason per kind of bad message."""
import json
from datetime import datetime, timezone

import pytest

from medray.config import InputError
from medray.vitals.schema import (RANGES, VITALS_FIELDS, encode_message, make_reading, parse_message)

GOOD = {"v": 1, "patient_id": "P0001", "ts": "2026-01-01T12:00:00.250Z", "heart_rate": 72, "spo2": 98,
        "temperature": 36.8, "mobility": 0.2}


def _msg(**changes) -> bytes:
    d = {**GOOD, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def _reason(value: bytes, key: bytes | None = None) -> str:
    with pytest.raises(InputError) as ei:
        parse_message(value, key)
    return ei.value.reason


def test_parse_good_message_and_round_trip():
    r = parse_message(_msg(), b"P0001")
    assert r.patient_id == "P0001" and r.as_vector() == (72, 98, 36.8, 0.2)
    assert r.ts == datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
    assert r.ts_epoch == r.ts.timestamp()
    key, value = encode_message(r)
    assert key == b"P0001"
    assert parse_message(value, key) == r
    assert json.loads(value)["ts"] == "2026-01-01T12:00:00.250Z"


def test_plus_zero_offset_is_utc_too():
    assert parse_message(_msg(ts="2026-01-01T12:00:00+00:00")).ts.hour == 12


@pytest.mark.parametrize("name", VITALS_FIELDS)
def test_range_bounds_are_inclusive_and_outside_is_refused(name):
    lo, hi = RANGES[name]
    assert getattr(parse_message(_msg(**{name: lo})), name) == lo
    assert getattr(parse_message(_msg(**{name: hi})), name) == hi
    span = hi - lo
    for bad in (lo - 0.01 * span, hi + 0.01 * span):
        with pytest.raises(InputError) as ei:
            parse_message(_msg(**{name: bad}))
        assert ei.value.reason == "out_of_range"
        assert name in ei.value.detail and str(lo) in ei.value.detail and str(hi) in ei.value.detail


def test_documented_ranges():
    assert RANGES == {"heart_rate": (20.0, 250.0), "spo2": (50.0, 100.0), "temperature": (25.0, 45.0),
                      "mobility": (0.0, 1.0)}


@pytest.mark.parametrize("value, reason", [
    (b"\xff\xfe not json", "not_json"),
    (b"{\"v\": 1,", "not_json"),
    (None, "not_json"),
    (b"[1, 2]", "not_object"),
    (b"x" * 5000, "too_large"),
    (_msg(v=2), "unsupported_version"),
    (_msg(v=True), "unsupported_version"),
    (_msg(spo2=...), "missing_field"),
    (_msg(extra=1), "unknown_field"),
    (_msg(patient_id="John Smith"), "bad_patient_id"),
    (_msg(patient_id=42), "bad_patient_id"),
    (_msg(ts="yesterday"), "bad_ts"),
    (_msg(ts="2026-01-01T12:00:00"), "bad_ts"),          # naive: refused, not guessed
    (_msg(ts="2026-01-01T12:00:00+02:00"), "bad_ts"),    # UTC only
    (_msg(ts=1767268800), "bad_ts"),
    (_msg(heart_rate="72"), "bad_type"),
    (_msg(mobility=True), "bad_type"),
    (_msg(heart_rate=None), "bad_type"),
    (b'{"v":1,"patient_id":"P0001","ts":"2026-01-01T12:00:00Z","heart_rate":NaN,"spo2":98,'
     b'"temperature":36.8,"mobility":0.2}', "out_of_range"),
    (b'{"v":1,"patient_id":"P0001","ts":"2026-01-01T12:00:00Z","heart_rate":72,"spo2":98,'
     b'"temperature":Infinity,"mobility":0.2}', "out_of_range"),
])
def test_bad_messages_have_typed_reasons(value, reason):
    assert _reason(value) == reason


def test_key_must_match_patient_id():
    assert _reason(_msg(), b"P0002") == "key_mismatch"


def test_errors_never_echo_the_patient_id():
    with pytest.raises(InputError) as ei:
        parse_message(_msg(patient_id="Jane Doe 1970-01-01"))
    assert "Jane" not in str(ei.value)


def test_make_reading_validates_like_parse():
    ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert make_reading("P1", ts, 60, 95, 37.0, 0.5).as_vector() == (60, 95, 37.0, 0.5)
    with pytest.raises(InputError, match="spo2"):
        make_reading("P1", ts, 60, 101, 37.0, 0.5)
    with pytest.raises(InputError):
        make_reading("P1", datetime(2026, 1, 1), 60, 95, 37.0, 0.5)


def test_parse_records_agrees_with_parse_message():
    from collections import namedtuple

    from medray.vitals.schema import parse_records

    Rec = namedtuple("Rec", "key value")
    good = _msg()
    values = [good, b"  " + good + b"\n", good + b" trailing", None, b"x" * 5000, b"[1]", _msg(spo2=101),
              good.decode().encode("utf-16"), _msg(patient_id="P0002"), b"\xff", b"1 2", b"NaN"]
    recs = [Rec(k, v) for v in values for k in (None, b"P0001")]
    readings, bad = parse_records(recs)
    expect_good, expect_bad = [], []
    for r in recs:
        try:
            expect_good.append(parse_message(r.value, r.key))
        except InputError as e:
            expect_bad.append((r, e.reason))
    assert readings == expect_good and len(readings) == 7  # good, padded, UTF-16 (x2 keys) + P0002 unkeyed
    assert [(r, e.reason) for r, e in bad] == expect_bad


def test_any_failure_of_one_record_is_that_records_reason():
    from types import SimpleNamespace

    from medray.vitals.schema import parse_records

    recs = [SimpleNamespace(key=None, value=b"[" * 2000),     # RecursionError in the JSON parser
            SimpleNamespace(key=None, value="{}"),            # not bytes: AttributeError deep inside
            SimpleNamespace(key=b"P0001", value=_msg())]
    good, bad = parse_records(recs)
    assert [e.reason for _, e in bad] == ["not_json", "undecodable"] and len(good) == 1


def test_readings_beyond_the_clock_skew_are_refused():
    from medray.vitals.schema import parse_records, parse_value

    future = _msg(ts="9999-12-31T00:00:00Z")
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc).timestamp()
    with pytest.raises(InputError) as ei:
        parse_value(future, max_ts_epoch=now + 300)
    assert ei.value.reason == "future_ts"
    from types import SimpleNamespace
    good, bad = parse_records([SimpleNamespace(key=None, value=future), SimpleNamespace(key=None, value=_msg())],
                              max_ts_epoch=now + 300)
    assert len(good) == 1 and [e.reason for _, e in bad] == ["future_ts"]
