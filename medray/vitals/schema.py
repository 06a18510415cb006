"""Vitals message schema v1: the JSON one IoT device reading travels as on Kafka.

``{"v": 1, "patient_id": "P0001", "ts": "2026-01-01T12:00:00.000Z", "heart_rate": 72, "spo2": 98,
"temperature": 36.8, "mobility": 0.2}``; the record key is the patient id, so one patient's readings stay
ordered in one partition. Unknown fields are refused (a newer producer must bump ``v``).

Accepted ranges, units and codes are those of ``medray.vitals.fields`` (the one list, with the reasons for
each limit). A message may also be an HL7 FHIR R4 ``Observation`` or ``Bundle`` of them (``medray.vitals.fhir``);
``parse_value`` / ``parse_records`` take either and return readings, a FHIR one carrying one vital (the others
None) that the cache merges per patient.

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
from medray.vitals.fields import BY_NAME, RANGES, VITALS_FIELDS

VITALS_TOPIC = "medray.vitals"
DLQ_TOPIC = "medray.vitals.dlq"
SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 4096
MAX_FHIR_BYTES = 65536  # FHIR JSON is verbose, and a Bundle carries several Observations
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
    """One validated reading. ``ts`` is timezone-aware UTC; ``ts_epoch`` is the same instant in seconds.

    A medray v1 message gives all four vitals; a FHIR Observation gives one and the others are None."""

    patient_id: str
    ts: datetime
    ts_epoch: float
    heart_rate: float | None
    spo2: float | None
    temperature: float | None
    mobility: float | None

    def as_vector(self) -> tuple:
        """(heart_rate, spo2, temperature, mobility) in raw units, the order the models expect (None: absent)."""
        return (self.heart_rate, self.spo2, self.temperature, self.mobility)

    @property
    def complete(self) -> bool:
        return None not in (self.heart_rate, self.spo2, self.temperature, self.mobility)

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


def parse_value(value: bytes | None, key: bytes | None = None,
                max_ts_epoch: float | None = None) -> list[VitalsReading]:
    """Decode and validate one message value, medray v1 or FHIR (Observation / Bundle) → its readings.

    ``key`` (if given) must equal the patient id; a reading stamped after ``max_ts_epoch`` is refused with
    reason ``future_ts`` (a clock running ahead would otherwise keep its reading "fresh" for ever).
    """
    if value is None:
        raise InputError("not_json", "empty message (tombstone)")
    if len(value) > MAX_FHIR_BYTES:
        raise InputError("too_large", f"{len(value)} bytes > {MAX_FHIR_BYTES}")
    try:
        obj = _loads(value)
    except InputError:
        if len(value) > MAX_MESSAGE_BYTES:
            raise InputError("too_large", f"{len(value)} bytes > {MAX_MESSAGE_BYTES}") from None
        raise
    if type(obj) is dict and "resourceType" in obj:
        from medray.vitals.fhir import readings_from_fhir  # lazy: fhir.resources loads ~1 s of models

        readings = readings_from_fhir(obj, key)
    else:
        if len(value) > MAX_MESSAGE_BYTES:
            raise InputError("too_large", f"{len(value)} bytes > {MAX_MESSAGE_BYTES}")
        readings = [_validate(obj)]
        if key is not None and key != readings[0].patient_id.encode():
            raise InputError("key_mismatch", "record key differs from patient_id")
    if max_ts_epoch is not None:
        for r in readings:
            if r.ts_epoch > max_ts_epoch:
                raise _future(r.ts_epoch, max_ts_epoch)
    return readings


def _future(ts_epoch: float, max_ts_epoch: float) -> InputError:
    return InputError("future_ts", f"ts is {ts_epoch - max_ts_epoch:.0f} s beyond the accepted clock skew")


def parse_message(value: bytes | None, key: bytes | None = None) -> VitalsReading:
    """Decode and validate one medray v1 message value; ``key`` (if given) must equal the patient id.

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


def parse_records(records: Iterable, max_ts_epoch: float = math.inf
                  ) -> tuple[list[VitalsReading], list[tuple[Any, InputError]]]:
    """Parse Kafka records (anything with ``.key`` and ``.value``) → (readings, [(record, error)]).

    The consumer's hot path: same result as ``parse_value`` per record, in one loop with the common case
    inlined (no per-message call chain); anything unusual (FHIR included) falls back to ``parse_value``.
    Whatever goes wrong with one record is that record's error, never the batch's: an exception that is not
    an InputError (e.g. RecursionError from a pathological document, a bug in a validator) becomes reason
    ``undecodable``, so the record is dead-lettered and the stream goes on.
    """
    good: list[VitalsReading] = []
    bad: list[tuple[Any, InputError]] = []
    append, extend, scan, validate = good.append, good.extend, _scan_once, _validate
    for m in records:
        value, key = m.value, m.key
        try:
            try:
                s = value.decode()
                obj, end = scan(s, 0)
                if end != len(s) or len(value) > MAX_MESSAGE_BYTES or (type(obj) is dict and "resourceType" in obj):
                    raise ValueError
            except (StopIteration, ValueError, UnicodeDecodeError, AttributeError, RecursionError):
                extend(parse_value(value, key, max_ts_epoch))
                continue
            r = validate(obj)
            if key is not None and key != r.patient_id.encode():
                raise InputError("key_mismatch", "record key differs from patient_id")
            if r.ts_epoch > max_ts_epoch:
                raise _future(r.ts_epoch, max_ts_epoch)
            append(r)
        except InputError as e:
            bad.append((m, e))
        except Exception as e:  # noqa: BLE001 - one record's failure must not stall the partition
            bad.append((m, InputError("undecodable", type(e).__name__)))
    return good, bad


def _loads(value: bytes):
    # Hot path: the C scanner straight on the UTF-8 text, skipping json.loads' encoding detection and
    # whitespace regexes (~30 % of a message's parse). Anything unusual goes to json.loads, which decides.
    try:
        s = value.decode()
        obj, end = _scan_once(s, 0)
        if end == len(s):
            return obj
    except (StopIteration, ValueError, UnicodeDecodeError, RecursionError):
        pass
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError("not_json", str(e)[:120]) from None
    except RecursionError:  # e.g. b"[" * 2000: within the size limit, deeper than the parser's stack
        raise InputError("not_json", "nested too deeply") from None


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
        BY_NAME[name].check(obj[name])
    raise AssertionError("unreachable: fast path and slow path disagree")


def _check_patient_id(pid) -> None:
    if type(pid) is not str or not _PID_RE.fullmatch(pid):
        # Never echo the value: it may be a real identifier sent by a misconfigured device.
        raise InputError("bad_patient_id", f"patient_id must match {_PID_RE.pattern} "
                         f"(got {type(pid).__name__} of length {len(pid) if isinstance(pid, str) else '-'})")
    if len(_known_pids) < _KNOWN_PIDS_MAX:
        _known_pids.add(pid)

