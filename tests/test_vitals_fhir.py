"""FHIR R4 Observation vitals: parsing and validation, and FHIR mixed with medray JSON on one topic."""
import dataclasses
import json
import uuid
from datetime import datetime, timezone

import pytest
import torch

from medray.config import InputError
from medray.models.vitals_adaptive import AlphaNet
from medray.vitals.broker import ensure_topics
from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import ConsumerOptions, VitalsConsumer
from medray.vitals.fhir import encode_bundle, encode_observations, observation
from medray.vitals.schema import encode_message, make_reading, parse_value
from medray.vitals.simulator import generate_readings
from tests.test_vitals_consumer import FAST, _produce, _read_all, _wait

R = make_reading("P0001", datetime(2026, 1, 1, 12, tzinfo=timezone.utc), 72, 98, 36.8, 0.2)


def _obs(name="heart_rate", mutate=None, reading=R) -> bytes:
    o = observation(reading, name)
    if mutate:
        mutate(o)
    return json.dumps(o).encode()


def _reason(value: bytes, key: bytes | None = None) -> str:
    with pytest.raises(InputError) as ei:
        parse_value(value, key)
    return ei.value.reason


def test_each_vital_round_trips_and_fahrenheit_becomes_celsius():
    for key, value in encode_observations(R):
        (r,) = parse_value(value, key)
        assert r.patient_id == "P0001" and r.ts == R.ts and sum(x is not None for x in r.as_vector()) == 1
    assert [x for r in parse_value(encode_bundle(R)[1]) for x in r.as_vector() if x is not None] == [72, 98, 36.8, 0.2]
    f = parse_value(_obs("temperature", lambda o: o["valueQuantity"].update(value=100.4, unit="°F", code="[degF]")))
    assert f[0].temperature == pytest.approx(38.0)
    spo2_arterial = _obs("spo2", lambda o: o["code"]["coding"][0].update(code="2708-6"))
    assert parse_value(spo2_arterial)[0].spo2 == 98
    offset = _obs(mutate=lambda o: o.update(effectiveDateTime="2026-01-01T14:00:00+02:00"))
    assert parse_value(offset)[0].ts == R.ts  # any zone, converted to UTC


@pytest.mark.parametrize("value, reason", [
    (_obs(mutate=lambda o: o.update(status="entered-in-error")), "fhir_status"),
    (_obs(mutate=lambda o: o.update(category=[{"coding": [{"system": "x", "code": "laboratory"}]}])),
     "fhir_not_vital_signs"),
    (_obs(mutate=lambda o: o["code"]["coding"][0].update(code="8480-6")), "fhir_unknown_code"),  # systolic BP
    (_obs(mutate=lambda o: o["valueQuantity"].update(code="mmHg", unit="mmHg")), "bad_unit"),
    (_obs("temperature", lambda o: o["valueQuantity"].update(value=52.0)), "out_of_range"),
    (_obs(mutate=lambda o: o["valueQuantity"].update(value=400)), "out_of_range"),
    (_obs(mutate=lambda o: o.pop("valueQuantity")), "missing_value"),
    (_obs(mutate=lambda o: o.update(subject={"reference": "Patient/John Smith"})), "bad_patient_id"),
    (_obs(mutate=lambda o: o.update(subject={"reference": "Group/ward-3"})), "bad_patient_id"),
    (_obs(mutate=lambda o: o.update(effectiveDateTime="2026-01-01")), "bad_ts"),
    (_obs(mutate=lambda o: o.pop("effectiveDateTime")), "bad_ts"),
    (_obs(mutate=lambda o: o.pop("code")), "fhir_invalid"),
    (_obs(mutate=lambda o: o.update(status=7)), "fhir_invalid"),
    (json.dumps({"resourceType": "Patient", "id": "x"}).encode(), "fhir_unsupported_resource"),
    (json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": observation(R, "spo2")}, {"resource": {"resourceType": "Patient", "id": "x"}}]}).encode(),
     "fhir_unsupported_resource"),
    (json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}).encode(), "fhir_invalid"),
])
def test_bad_observations_have_typed_reasons_and_never_echo_values(value, reason):
    with pytest.raises(InputError) as ei:
        parse_value(value)
    assert ei.value.reason == reason
    assert "John" not in str(ei.value)


def test_record_key_must_be_the_subject():
    assert _reason(_obs(), key=b"P0002") == "key_mismatch"


def test_fhir_and_medray_on_one_topic_give_the_same_alpha_and_bad_ones_are_dead_lettered(kafka_bootstrap,
                                                                                          unique_topic):
    topic, dlq = unique_topic, unique_topic + ".dlq"
    ensure_topics(kafka_bootstrap, [topic, dlq], partitions=3)
    base = list(generate_readings(patients=1, hz=1, count=30, seed=11))
    as_medray = [dataclasses.replace(r, patient_id="PJSON") for r in base]
    as_obs = [dataclasses.replace(r, patient_id="POBS") for r in base]
    as_bundle = [dataclasses.replace(r, patient_id="PBUNDLE") for r in base]
    raw = []
    for a, b, c in zip(as_medray, as_obs, as_bundle):  # interleaved on one topic
        raw.append(encode_message(a))
        raw.extend(encode_observations(b))
        raw.append(encode_bundle(c))
    bad = [_obs(mutate=lambda o: o["valueQuantity"].update(code="mmHg")),
           _obs(mutate=lambda o: o.update(status="cancelled")),
           _obs(mutate=lambda o: o.pop("code"))]
    raw += [(b"P0001", v) for v in bad] + [(b"P0002", _obs())]  # the last: key is not the subject
    _produce(kafka_bootstrap, topic, raw=raw)
    cache = VitalsCache(window_s=5.0)
    con = VitalsConsumer(kafka_bootstrap, "g-" + uuid.uuid4().hex[:6], cache, topic, dlq, ConsumerOptions(**FAST),
                         dlq_secret=b"0123456789abcdef").start()
    try:
        _wait(lambda: cache.invalid >= 4 and con.stats()["lag"] == 0 and cache.applied >= 30 * 9,
              what="all handled")
    finally:
        con.stop()
    assert cache.applied == 30 * (1 + 4 + 4) and cache.invalid == 4 and con.stats()["errors"] == 0
    assert cache.invalid_by_reason == {"bad_unit": 1, "fhir_status": 1, "fhir_invalid": 1, "key_mismatch": 1}
    letters = [json.loads(m.value) for m in _read_all(kafka_bootstrap, dlq, 4)]
    assert sorted(d["reason"] for d in letters) == ["bad_unit", "fhir_invalid", "fhir_status", "key_mismatch"]

    latest = {pid: cache.latest(pid) for pid in ("PJSON", "POBS", "PBUNDLE")}
    assert latest["PJSON"] == as_medray[-1]
    for pid in ("POBS", "PBUNDLE"):
        assert latest[pid].as_vector() == latest["PJSON"].as_vector() and latest[pid].ts == base[-1].ts
    torch.manual_seed(0)
    net = AlphaNet().eval()
    with torch.no_grad():
        alphas = net(torch.tensor([latest[p].as_vector() for p in ("PJSON", "POBS", "PBUNDLE")]))
    assert alphas[0] == alphas[1] == alphas[2]
    # The window's statistics agree too: partial readings count once per vital.
    snaps = [cache.snapshot(p) for p in ("PJSON", "POBS", "PBUNDLE")]
    assert all(s["window"]["heart_rate"] == snaps[0]["window"]["heart_rate"] for s in snaps)
