"""Simulated vitals: deterministic, valid on the wire, physiologically plausible, episodes visible."""
import statistics as st
import time

from kafka import KafkaConsumer, TopicPartition

from medray.vitals.broker import ensure_topics
from medray.vitals.schema import RANGES, VITALS_FIELDS, encode_message, parse_message
from medray.vitals.simulator import generate_readings, run_simulator


def _by_patient(readings):
    out = {}
    for r in readings:
        out.setdefault(r.patient_id, []).append(r)
    return out


def test_deterministic_bounded_and_pseudonymous():
    a = list(generate_readings(patients=3, hz=2.0, duration_s=10.0, seed=7))
    assert a == list(generate_readings(patients=3, hz=2.0, duration_s=10.0, seed=7))
    assert a != list(generate_readings(patients=3, hz=2.0, duration_s=10.0, seed=8))
    assert len(a) == 3 * 20
    assert len(list(generate_readings(patients=3, hz=2.0, duration_s=None, count=7))) == 7
    assert {r.patient_id for r in a} == {"P0001", "P0002", "P0003"}
    per = _by_patient(a)["P0002"]
    assert [round(r.ts_epoch - per[0].ts_epoch, 3) for r in per[:3]] == [0.0, 0.5, 1.0]


def test_every_reading_survives_the_wire_format():
    for r in generate_readings(patients=5, hz=1.0, duration_s=600.0, seed=1):
        key, value = encode_message(r)
        assert parse_message(value, key) == r


def test_statistics_are_plausible():
    rs = list(generate_readings(patients=20, hz=0.2, duration_s=4 * 3600.0, seed=0))
    col = {f: [getattr(r, f) for r in rs] for f in VITALS_FIELDS}
    for f in VITALS_FIELDS:
        lo, hi = RANGES[f]
        assert lo <= min(col[f]) and max(col[f]) <= hi
    assert 65 <= st.mean(col["heart_rate"]) <= 95 and 5 <= st.pstdev(col["heart_rate"]) <= 20
    assert 95 <= st.median(col["spo2"]) <= 99
    assert 36.4 <= st.median(col["temperature"]) <= 37.3
    assert 0.1 <= st.mean(col["mobility"]) <= 0.45
    # Episodes happen, but are occasional: some desaturations below 92 %, some fevers above 38 °C.
    assert 0.001 < sum(s < 92 for s in col["spo2"]) / len(rs) < 0.10
    assert 0.001 < sum(t >= 38.0 for t in col["temperature"]) / len(rs) < 0.25
    assert sum(m >= 0.6 for m in col["mobility"]) / len(rs) > 0.005
    for trace in _by_patient(rs).values():
        hr = [r.heart_rate for r in trace]
        steps = [abs(b - a) for a, b in zip(hr, hr[1:])]
        assert st.mean(steps) < 0.6 * st.pstdev(hr)  # a random walk, not white noise


def test_run_simulator_streams_to_kafka_in_real_time(kafka_bootstrap, unique_topic):
    ensure_topics(kafka_bootstrap, [unique_topic], partitions=2)
    t0 = time.time()
    summary = run_simulator(kafka_bootstrap, patients=3, hz=10.0, duration_s=1.0, topic=unique_topic, seed=0)
    elapsed = time.time() - t0
    assert summary["sent"] == 30 and 0.85 <= elapsed < 10
    c = KafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([TopicPartition(unique_topic, p) for p in range(2)])
    msgs, deadline = [], time.monotonic() + 15
    while len(msgs) < 30 and time.monotonic() < deadline:
        for batch in c.poll(200).values():
            msgs.extend(batch)
    c.close()
    readings = [parse_message(m.value, m.key) for m in msgs]
    assert len(readings) == 30
    assert all(abs(r.ts_epoch - t0) < 10 for r in readings)  # stamped with wall-clock time
    for trace in _by_patient(readings).values():  # one key → one partition → per-patient order kept
        assert [r.ts_epoch for r in trace] == sorted(r.ts_epoch for r in trace)


def test_run_simulator_fhir_sends_one_observation_per_vital(kafka_bootstrap, unique_topic):
    from medray.vitals.schema import parse_value

    ensure_topics(kafka_bootstrap, [unique_topic], partitions=1)
    summary = run_simulator(kafka_bootstrap, patients=2, hz=5.0, count=4, duration_s=None, topic=unique_topic,
                            realtime=False, fmt="fhir")
    assert (summary["sent"], summary["messages"], summary["format"]) == (4, 16, "fhir")
    c = KafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([TopicPartition(unique_topic, 0)])
    msgs, deadline = [], time.monotonic() + 15
    while len(msgs) < 16 and time.monotonic() < deadline:
        for batch in c.poll(200).values():
            msgs.extend(batch)
    c.close()
    readings = [r for m in msgs for r in parse_value(m.value, m.key)]
    expected = list(generate_readings(patients=2, hz=5.0, count=4, duration_s=None))
    merged = {}
    for r in readings:
        for name, x in zip(VITALS_FIELDS, r.as_vector()):
            if x is not None:
                merged.setdefault((r.patient_id, r.ts_epoch), {})[name] = x
    assert len(merged) == 4  # same values as the medray JSON stream, stamped with wall-clock time
    assert [merged[k] for k in sorted(merged)] == \
        [{f: getattr(e, f) for f in VITALS_FIELDS} for e in sorted(expected, key=lambda e: (e.patient_id, e.ts_epoch))]
