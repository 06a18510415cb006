"""VitalsConsumer against a real tansu broker: produce → consume → cache, dead letters, crash + restart."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from medray.vitals.broker import ensure_topics
from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import ConsumerOptions, VitalsConsumer, committed_offsets
from medray.vitals.schema import encode_message
from medray.vitals.simulator import generate_readings

# Short session: tansu holds a JoinGroup for ~session_timeout/2, which is the start-up time of every test here.
FAST = dict(session_timeout_ms=3000, heartbeat_interval_ms=500)


def _produce(bootstrap, topic, readings=(), raw=()):
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for r in readings:
        key, value = encode_message(r)
        p.send(topic, key=key, value=value)
    for key, value in raw:
        p.send(topic, key=key, value=value)
    p.flush()
    p.close()


def _wait(cond, timeout_s=30.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def _read_all(bootstrap, topic, expect, timeout_s=20.0):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
    c.assign(tps)
    c.seek_to_beginning()
    out, deadline = [], time.monotonic() + timeout_s
    while len(out) < expect and time.monotonic() < deadline:
        for msgs in c.poll(200).values():
            out.extend(msgs)
    c.close()
    return out


def _topics(bootstrap, topic):
    dlq = topic + ".dlq"
    ensure_topics(bootstrap, [topic, dlq], partitions=3)
    return topic, dlq


def test_produce_consume_cache(kafka_bootstrap, unique_topic):
    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    readings = list(generate_readings(patients=3, hz=10, count=600, seed=1))
    _produce(kafka_bootstrap, topic, readings)
    cache = VitalsCache(window_s=5.0)
    con = VitalsConsumer(kafka_bootstrap, "g-" + uuid.uuid4().hex[:6], cache, topic, dlq, ConsumerOptions(**FAST))
    con.start()
    try:
        _wait(lambda: cache.applied >= 600, what="600 readings applied")
        _wait(lambda: con.stats()["lag"] == 0, what="lag 0")
    finally:
        con.stop()
    for pid in ("P0001", "P0002", "P0003"):
        last = [r for r in readings if r.patient_id == pid][-1]
        assert cache.latest(pid) == last
        assert len(cache.window(pid)) == 51  # 10 Hz, 5 s window, both ends inclusive
    s = con.stats()
    assert (s["messages"], s["dead_lettered"], s["errors"], s["cache"]["duplicates"]) == (600, 0, 0, 0)
    assert 0 <= s["delay_s_p50"] and s["delay_samples"] == 600
    assert not con.running
    assert sum(v or 0 for v in committed_offsets(kafka_bootstrap, con.group_id, topic).values()) == 600


def test_malformed_messages_go_to_dead_letter_topic(kafka_bootstrap, unique_topic):
    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    good = list(generate_readings(patients=2, hz=1, count=10, seed=2))
    k, v = encode_message(good[0])
    bad = [(b"P0001", b"{not json"), (b"P0001", v.replace(b'"spo2":', b'"spo2":1')),  # spo2 1xx %
           (b"P0002", v), (b"P0001", json.dumps({"v": 9}).encode())]
    _produce(kafka_bootstrap, topic, good[:5], raw=bad)
    _produce(kafka_bootstrap, topic, good[5:])
    cache = VitalsCache()
    con = VitalsConsumer(kafka_bootstrap, "g-" + uuid.uuid4().hex[:6], cache, topic, dlq, ConsumerOptions(**FAST))
    con.start()
    try:
        _wait(lambda: cache.applied + cache.invalid >= 14, what="14 messages handled")
    finally:
        con.stop()
    assert cache.applied == 10 and cache.invalid == 4
    assert cache.invalid_by_reason == {"not_json": 1, "out_of_range": 1, "key_mismatch": 1,
                                       "unsupported_version": 1}
    letters = [json.loads(m.value) for m in _read_all(kafka_bootstrap, dlq, 4)]
    assert sorted(d["reason"] for d in letters) == ["key_mismatch", "not_json", "out_of_range",
                                                    "unsupported_version"]
    for d in letters:
        assert d["topic"] == topic and d["offset"] >= 0 and d["detail"]
    assert {d["reason"]: d for d in letters}["not_json"]["value_b64"] == "e25vdCBqc29u"  # b"{not json"
    assert con.stats()["errors"] == 0


def test_crash_before_commit_then_restart_loses_nothing(kafka_bootstrap, unique_topic):
    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    readings = list(generate_readings(patients=5, hz=10, count=3000, seed=3))
    _produce(kafka_bootstrap, topic, readings)
    group = "g-" + uuid.uuid4().hex[:6]
    cache = VitalsCache(dedup_horizon=10_000)
    opts = ConsumerOptions(max_poll_records=100, **FAST)
    first = VitalsConsumer(kafka_bootstrap, group, cache, topic, dlq, opts).start()
    _wait(lambda: cache.applied >= 500, what="first consumer mid-stream")
    first.crash()  # the batch in flight is applied but its offsets are never committed
    applied_by_first = cache.applied
    committed = sum(v or 0 for v in committed_offsets(kafka_bootstrap, group, topic).values())
    assert 500 <= applied_by_first < 3000 and committed < applied_by_first

    second = VitalsConsumer(kafka_bootstrap, group, cache, topic, dlq, opts).start()
    try:
        _wait(lambda: cache.applied >= 3000, what="all readings after restart")
        _wait(lambda: second.stats()["lag"] == 0, what="lag 0")
    finally:
        second.stop()
    assert cache.applied == 3000
    assert cache.duplicates == applied_by_first - committed  # exactly the uncommitted tail, redelivered
    for pid in {r.patient_id for r in readings}:
        assert cache.seen(pid) >= {r.ts_epoch for r in readings if r.patient_id == pid}


def test_a_failing_batch_is_redelivered_not_skipped(kafka_bootstrap, unique_topic):
    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    readings = list(generate_readings(patients=2, hz=10, count=400, seed=5))
    _produce(kafka_bootstrap, topic, readings)

    class FlakyCache(VitalsCache):
        calls = 0

        def apply_batch(self, batch, now=None):
            FlakyCache.calls += 1
            if FlakyCache.calls == 2:  # applies half of the batch, then fails (a bug, a full disk, ...)
                batch = list(batch)
                super().apply_batch(batch[: len(batch) // 2], now)
                raise RuntimeError("injected failure")
            return super().apply_batch(batch, now)

    cache = FlakyCache()
    con = VitalsConsumer(kafka_bootstrap, "g-" + uuid.uuid4().hex[:6], cache, topic, dlq,
                         ConsumerOptions(max_poll_records=50, **FAST)).start()
    try:
        _wait(lambda: cache.applied >= 400 and con.stats()["lag"] == 0, what="all applied after the failure")
    finally:
        con.stop()
    s = con.stats()
    assert cache.applied == 400 and cache.duplicates > 0
    assert s["errors"] == 1 and "injected failure" in s["last_error"]
    assert sum(v or 0 for v in committed_offsets(kafka_bootstrap, con.group_id, topic).values()) == 400


CHILD = textwrap.dedent("""
    import sys, time
    from medray.vitals.cache import VitalsCache
    from medray.vitals.consumer import ConsumerOptions, VitalsConsumer

    bootstrap, group, topic, dlq, out = sys.argv[1:6]
    log = open(out, "a", buffering=1)

    class JournalCache(VitalsCache):
        def apply_batch(self, readings, now=None):
            res = super().apply_batch(readings, now)
            log.write("".join(f"{r.patient_id} {r.ts_epoch!r}\\n" for r in readings))  # applied, not yet committed
            time.sleep(0.02)
            return res

    VitalsConsumer(bootstrap, group, JournalCache(), topic, dlq,
                   ConsumerOptions(max_poll_records=50, session_timeout_ms=3000, heartbeat_interval_ms=500)).start()
    time.sleep(600)
""")


@pytest.mark.slow  # ~10 s: a child interpreter, and the group waits out the killed member's session
def test_consumer_process_killed_mid_stream_and_restarted_loses_nothing(kafka_bootstrap, unique_topic, tmp_path):
    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    readings = list(generate_readings(patients=4, hz=10, count=4000, seed=4))
    _produce(kafka_bootstrap, topic, readings)
    group, journal = "g-" + uuid.uuid4().hex[:6], tmp_path / "applied.txt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, kafka_bootstrap, group, topic, dlq, str(journal)],
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        _wait(lambda: journal.exists() and journal.read_text().count("\n") >= 1000, timeout_s=60,
              what="child consumer mid-stream")
    finally:
        os.kill(child.pid, signal.SIGKILL)  # no graceful anything: no commit, no LeaveGroup
        child.wait(10)
    by_child = {(p, float(t)) for p, t in (line.split() for line in journal.read_text().splitlines())}
    assert 1000 <= len(by_child) < 4000

    cache = VitalsCache(dedup_horizon=10_000)
    con = VitalsConsumer(kafka_bootstrap, group, cache, topic, dlq, ConsumerOptions(**FAST)).start()
    produced = {(r.patient_id, r.ts_epoch) for r in readings}
    try:
        _wait(lambda: con.stats()["lag"] == 0 and cache.applied > 0, timeout_s=60, what="restart caught up")
    finally:
        con.stop()
    by_restart = {(p, t) for p in cache.patients() for t in cache.seen(p)}
    assert by_child | by_restart >= produced                 # nothing lost
    assert by_restart >= produced - by_child                 # restart resumed at (or before) the committed offset
    assert cache.applied < len(produced)                     # ... and not from the beginning
