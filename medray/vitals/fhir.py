"""Vitals as HL7 FHIR R4 ``Observation`` resources (one vital each), or a ``Bundle`` of them.

Parsed and validated with ``fhir.resources`` (its R4B models: Observation, Quantity, Reference and Bundle are the
same as R4's for everything read here), then checked against ``medray.vitals.fields``:

- category ``vital-signs`` (HL7 observation-category);
- ``code`` has a coding of one vital: LOINC 8867-4 heart rate, 59408-5 / 2708-6 SpO2, 8310-5 body temperature,
  or ``mobility`` in medray's code system (``fields.MEDRAY_CODES``);
- ``status`` final, amended, corrected or preliminary (never entered-in-error, cancelled, registered, unknown);
- ``subject.reference`` is ``Patient/<pseudonym>`` and the pseudonym is the patient id (and must equal the
  record key when there is one);
- ``effectiveDateTime`` or ``effectiveInstant`` with a time and a zone (any offset, converted to UTC);
- ``valueQuantity`` in a UCUM unit the field accepts (``/min``, ``%``, ``Cel`` or ``[degF]`` → °C, ``1``),
  inside the field's plausible range after conversion.

A Bundle is all or nothing: one bad entry refuses the whole message (it is one Kafka record, dead-lettered
with that entry's reason). Error details never echo input values (pydantic's ``input`` is left out).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

from pydantic import ValidationError

from medray.config import InputError
from medray.vitals.fields import BY_CODE, BY_NAME, FIELDS, UCUM, VITAL_SIGNS_CATEGORY, VitalField
from medray.vitals.schema import VitalsReading, _check_patient_id, _known_pids, format_ts

ACCEPTED_STATUS = frozenset(("final", "amended", "corrected", "preliminary"))
MAX_BUNDLE_ENTRIES = 64
_UTC = timezone.utc


def _models():
    # Imported on first use: the R4B models take about a second to load and a medray-JSON-only consumer
    # never needs them.
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.observation import Observation

    return Observation, Bundle


def readings_from_fhir(obj: dict, key: bytes | None = None) -> list[VitalsReading]:
    """A decoded FHIR JSON object (Observation or Bundle) → one partial reading per Observation."""
    rtype = obj.get("resourceType")
    if rtype == "Observation":
        Observation, _ = _models()
        return [_reading(_validate_model(Observation, obj), key)]
    if rtype == "Bundle":
        _, Bundle = _models()
        entries = obj.get("entry")
        if not isinstance(entries, list) or not entries:
            raise InputError("fhir_invalid", "Bundle has no entry")
        if len(entries) > MAX_BUNDLE_ENTRIES:
            raise InputError("fhir_invalid", f"Bundle has {len(entries)} entries > {MAX_BUNDLE_ENTRIES}")
        bundle = _validate_model(Bundle, obj)
        out = []
        for i, e in enumerate(bundle.entry):
            res = e.resource
            if res is None or res.get_resource_type() != "Observation":
                kind = None if res is None else res.get_resource_type()
                raise InputError("fhir_unsupported_resource", f"entry {i}: {kind}; only Observation entries")
            out.append(_reading(res, key, where=f"entry {i}: "))
        return out
    raise InputError("fhir_unsupported_resource",
                     f"resourceType={str(rtype)[:40]!r}; accepted: ['Observation', 'Bundle']")


def _validate_model(model, obj: dict):
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        errs = e.errors(include_input=False, include_url=False)
        first = errs[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise InputError("fhir_invalid", f"{len(errs)} error(s); first at {loc or '(root)'}: "
                         f"{first['msg'][:100]}") from None
    except (ValueError, TypeError) as e:  # fhir.resources' own checks (e.g. resourceType mismatch)
        raise InputError("fhir_invalid", f"{type(e).__name__}: {str(e).splitlines()[0][:100]}") from None


def _field(obs, where: str) -> VitalField:
    codings = (obs.code.coding if obs.code is not None else None) or []
    for c in codings:
        f = BY_CODE.get((c.system, c.code))
        if f is not None:
            return f
    known = sorted(f"{s}|{c}" for s, c in BY_CODE)
    raise InputError("fhir_unknown_code", f"{where}no coding of a medray vital; accepted: {known}")


def _reading(obs, key: bytes | None, where: str = "") -> VitalsReading:
    if obs.status not in ACCEPTED_STATUS:
        raise InputError("fhir_status", f"{where}status={str(obs.status)[:30]!r}; accepted: {sorted(ACCEPTED_STATUS)}")
    cats = [(c.system, c.code) for cc in (obs.category or []) for c in (cc.coding or [])]
    if VITAL_SIGNS_CATEGORY not in cats:
        raise InputError("fhir_not_vital_signs", f"{where}category must include {VITAL_SIGNS_CATEGORY[1]!r}")
    field = _field(obs, where)
    ref = obs.subject.reference if obs.subject is not None else None
    if type(ref) is not str or not ref.startswith("Patient/"):
        raise InputError("bad_patient_id", f"{where}subject.reference must be 'Patient/<pseudonym>'")
    pid = ref[len("Patient/"):]
    if pid not in _known_pids:
        _check_patient_id(pid)
    if key is not None and key != pid.encode():
        raise InputError("key_mismatch", f"{where}record key differs from the subject's patient id")
    ts = obs.effectiveDateTime if obs.effectiveDateTime is not None else obs.effectiveInstant
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        got = "none" if ts is None else ("a date without time" if isinstance(ts, date) else "no zone")
        raise InputError("bad_ts", f"{where}effectiveDateTime/effectiveInstant with time and zone required, got {got}")
    ts = ts.astimezone(_UTC)
    q = obs.valueQuantity
    if q is None or q.value is None:
        raise InputError("missing_value", f"{where}{field.name}: valueQuantity.value required")
    if q.system is not None and q.system != UCUM:
        raise InputError("bad_unit", f"{where}{field.name}: unit system must be {UCUM}")
    value = field.check(field.convert(float(q.value), q.code if q.code is not None else q.unit))
    vals = {f.name: None for f in FIELDS}
    vals[field.name] = value
    return VitalsReading(pid, ts, ts.timestamp(), **vals)


# ---- writing (simulator, tests) -------------------------------------------------------------------------
def observation(reading: VitalsReading, name: str) -> dict:
    """The FHIR Observation (JSON-ready dict) for one vital of ``reading``, in the field's canonical unit."""
    f = BY_NAME[name]
    system, code = f.codes[0]
    value = getattr(reading, name)
    if value is None:
        raise InputError("missing_value", f"reading has no {name}")
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": VITAL_SIGNS_CATEGORY[0], "code": VITAL_SIGNS_CATEGORY[1],
                                  "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": system, "code": code, "display": f.display}], "text": f.display},
        "subject": {"reference": f"Patient/{reading.patient_id}"},
        "effectiveDateTime": format_ts(reading.ts),
        "valueQuantity": {"value": value, "unit": f.unit, "system": UCUM, "code": f.unit},
    }


def encode_observations(reading: VitalsReading) -> list[tuple[bytes, bytes]]:
    """(key, value) per present vital: one Observation per Kafka record, key = patient id."""
    key = reading.patient_id.encode()
    return [(key, json.dumps(observation(reading, f.name), separators=(",", ":")).encode())
            for f in FIELDS if getattr(reading, f.name) is not None]


def encode_bundle(reading: VitalsReading) -> tuple[bytes, bytes]:
    """(key, value): all present vitals of ``reading`` as one ``collection`` Bundle."""
    entries = [{"resource": observation(reading, f.name)} for f in FIELDS if getattr(reading, f.name) is not None]
    body = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return reading.patient_id.encode(), json.dumps(body, separators=(",", ":")).encode()
