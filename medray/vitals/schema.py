"""Vitals message schema v1: the JSON one IoT device reading travels as on Kafka.

``{"v": 1, "patient_id": "P0001", "ts": "2026-01-01T12:00:00.000Z", "heart_rate": 72, "spo2": 98,
"temperature": 36.8, "mobility": 0.2}``; the record key is the patient id, so one patient's readings stay
ordered in one partition. Unknown fields are refused (a newer producer must bump ``v``).

Accepted ranges are *sensor plausibility* limits, not clinical normals: a reading outside them is a device
or transport fault, never a patient state worth conditioning a model on.

| field        | unit            | range        | why these limits                                              |
|--------------|-----------------|--------------|---------------------------------------------------------------|
| heart_rate   | beats/min       | 20 .. 250    | below: asystole/lead-off artefact; above: beyond ward monitors |
| spo2         | %               | 50 .. 100    | oximeters are uncalibrated below ~70 %; >100 % is impossible   |
| temperature  | °C (core/skin)  | 25.0 .. 45.0 | survivable accidental hypothermia .. lethal hyperthermia      |
| mobility     | fraction 0..1   | 0.0 .. 1.0   | share of the sampling window with movement (accelerometer)    |

``patient_id`` must be a pseudonym (``[A-Za-z0-9._-]{1,64}``, e.g. ``P0001`` or a salted hash); errors never
echo it, so a device that leaks a real name does not put it into logs or the dead-letter reason.
"""
from __future__ import annotations

import json
import json.scanner
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from medray.config import InputError

VITALS_TOPIC = "medray.vitals"
DLQ_TOPIC = "medray.vitals.dlq"
SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 4096
# Order the models take vitals in (raw units), see DESIGN "models".
VITALS_FIELDS = ("heart_rate", "spo2", "temperature", "mobility")
RANGES: dict[str, tuple[float, float]] = {
    "heart_rate": (20.0, 250.0),
    "spo2": (50.0, 100.0),
    "temperature": (25.0, 45.0),
    "mobility": (0.0, 1.0),
}
_KEYS = frozenset(("v", "patient_id", "ts") + VITALS_FIELDS)
_PID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UTC = timezone.utc
_ZERO = _UTC.utcoffset(None)
_NUM = (int, float)  # exact types: bool is refused
_scan_once = json.scanner.c_make_scanner(json.JSONDecoder()) if json.scanner.c_make_scanner else \
    json.scanner.py_make_scanner(json.JSONDecoder())
_known_pids: set[str] = set()  # ids that already passed the pattern: a set lookup instead of a regex
_KNOWN_PIDS_MAX = 1_000_000
(_HR_LO, _HR_HI), (_SP_LO, _SP_HI), (_T_LO, _T_HI), (_M_LO, _M_HI) = (RANGES[f] for f in VITALS_FIELDS)


@dataclass(slots=True)
class VitalsReading:
    """One validated reading. ``ts`` is timezone-aware UTC; ``ts_epoch`` is the same instant in seconds."""

    patient_id: str
    ts: datetime
    ts_epoch: float
    heart_rate: float
    spo2: float
    temperature: float
    mobility: float

    def as_vector(self) -> tuple[float, float, float, float]:
        """(heart_rate, spo2, temperature, mobility) in raw units, the order the models expect."""
        return (self.heart_rate, self.spo2, self.temperature, self.mobility)

    def ts_iso(self) -> str:
        return format_ts(self.ts)

    def to_dict(self) -> dict:
        return {"v": SCHEMA_VERSION, "patient_id": self.patient_id, "ts": self.ts_iso(),
                "heart_rate": self.heart_rate, "spo2": self.spo2, "temperature": self.temperature,
                "mobility": self.mobility}


def format_ts(ts: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z`` suffix."""
    return ts.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def make_reading(patient_id: str, ts: datetime, heart_rate: float, spo2: float, temperature: float,
                 mobility: float) -> VitalsReading:
    """Build a reading from Python values, validated exactly like a parsed message."""
    if ts.tzinfo is None:
        raise InputError("bad_ts", "ts must be timezone-aware UTC")
    return _validate({"v": SCHEMA_VERSION, "patient_id": patient_id, "ts": format_ts(ts),
                      "heart_rate": heart_rate, "spo2": spo2, "temperature": temperature, "mobility": mobility})


def encode_message(reading: VitalsReading) -> tuple[bytes, bytes]:
    """(key, value) bytes for Kafka: key = patient id, value = compact JSON v1."""
    value = json.dumps(reading.to_dict(), separators=(",", ":")).encode()
    return reading.patient_id.encode(), value


def parse_message(value: bytes | None, key: bytes | None = None) -> VitalsReading:
    """Decode and validate one message value; ``key`` (if given) must equal the patient id.

    Raises ``InputError(reason, detail)`` with reason in: too_large, not_json, not_object, unsupported_version,
    missing_field, unknown_field, bad_patient_id, key_mismatch, bad_ts, bad_type, out_of_range.
    """
    if value is None:
        raise InputError("not_json", "empty message (tombstone)")
    if len(value) > MAX_MESSAGE_BYTES:
        raise InputError("too_large", f"{len(value)} bytes > {MAX_MESSAGE_BYTES}")
    reading = _validate(_loads(value))
    if key is not None and key != reading.patient_id.encode():
        raise InputError("key_mismatch", "record key differs from patient_id")
    return reading


def parse_records(records: Iterable) -> tuple[list[VitalsReading], list[tuple[Any, InputError]]]:
    """Parse Kafka records (anything with ``.key`` and ``.value``) → (readings, [(record, error)]).

    The consumer's hot path: same result as ``parse_message`` per record, in one loop with the common case
    inlined (no per-message call chain); anything unusual falls back to ``parse_message``.
    """
    good: list[VitalsReading] = []
    bad: list[tuple[Any, InputError]] = []
    append, scan, validate = good.append, _scan_once, _validate
    for m in records:
        value, key = m.value, m.key
        try:
            try:
                s = value.decode()
                obj, end = scan(s, 0)
                if end != len(s) or len(value) > MAX_MESSAGE_BYTES:
                    raise ValueError
            except (StopIteration, ValueError, UnicodeDecodeError, AttributeError):
                append(parse_message(value, key))
                continue
            r = validate(obj)
            if key is not None and key != r.patient_id.encode():
                raise InputError("key_mismatch", "record key differs from patient_id")
            append(r)
        except InputError as e:
            bad.append((m, e))
    return good, bad


def _loads(value: bytes):
    # Hot path: the C scanner straight on the UTF-8 text, skipping json.loads' encoding detection and
    # whitespace regexes (~30 % of a message's parse). Anything unusual goes to json.loads, which decides.
    try:
        s = value.decode()
        obj, end = _scan_once(s, 0)
        if end == len(s):
            return obj
    except (StopIteration, ValueError, UnicodeDecodeError):
        pass
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError("not_json", str(e)[:120]) from None


def _validate(obj) -> VitalsReading:
    if type(obj) is not dict:
        raise InputError("not_object", f"expected a JSON object, got {type(obj).__name__}")
    v = obj.get("v")  # first: another version may have other fields
    if v != SCHEMA_VERSION or type(v) is not int:
        raise InputError("unsupported_version", f"v={v!r}; this consumer reads v={SCHEMA_VERSION}")
    try:  # seven keys, all of them present <=> exactly the schema's key set
        if len(obj) != len(_KEYS):
            raise KeyError
        pid, ts_s = obj["patient_id"], obj["ts"]
        hr, spo2, temp, mob = obj["heart_rate"], obj["spo2"], obj["temperature"], obj["mobility"]
    except KeyError:
        missing = sorted(_KEYS - obj.keys())
        if missing:
            raise InputError("missing_field", f"missing {missing}; required fields are {sorted(_KEYS)}") from None
        raise InputError("unknown_field", f"unknown {sorted(set(obj) - _KEYS)}; "
                         f"valid fields are {sorted(_KEYS)}") from None
    if type(pid) is not str or pid not in _known_pids:
        _check_patient_id(pid)
    try:
        ts = datetime.fromisoformat(ts_s)
    except (TypeError, ValueError):
        if type(ts_s) is not str:
            raise InputError("bad_ts", f"ts must be an ISO-8601 string, got {type(ts_s).__name__}") from None
        raise InputError("bad_ts", f"ts={ts_s[:40]!r} is not ISO-8601") from None
    if ts.tzinfo is not _UTC and ts.utcoffset() != _ZERO:
        raise InputError("bad_ts", f"ts={ts_s[:40]!r} must be UTC ('Z' or +00:00)")
    # Fast path: plain numbers inside their ranges (chained comparisons are False for NaN).
    if (type(hr) in _NUM and type(spo2) in _NUM and type(temp) in _NUM and type(mob) in _NUM
            and _HR_LO <= hr <= _HR_HI and _SP_LO <= spo2 <= _SP_HI and _T_LO <= temp <= _T_HI
            and _M_LO <= mob <= _M_HI):
        return VitalsReading(pid, ts, ts.timestamp(), hr, spo2, temp, mob)
    for name in VITALS_FIELDS:
        x = obj[name]
        if type(x) not in _NUM:
            raise InputError("bad_type", f"{name} must be a number, got {type(x).__name__}")
        lo, hi = RANGES[name]
        if not (math.isfinite(x) and lo <= x <= hi):
            raise InputError("out_of_range", f"{name}={x!r} is outside the accepted range [{lo}, {hi}]")
    raise AssertionError("unreachable: fast path and slow path disagree")


def _check_patient_id(pid) -> None:
    if type(pid) is not str or not _PID_RE.fullmatch(pid):
        # Never echo the value: it may be a real identifier sent by a misconfigured device.
        raise InputError("bad_patient_id", f"patient_id must match {_PID_RE.pattern} "
                         f"(got {type(pid).__name__} of length {len(pid) if isinstance(pid, str) else '-'})")
    if len(_known_pids) < _KNOWN_PIDS_MAX:
        _known_pids.add(pid)

