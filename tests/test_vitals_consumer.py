"""VitalsConsumer against a real tansu broker: produce → consume → cache, dead letters, crash + restart."""
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from medray.vitals.broker import ensure_topics
from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import ConsumerOptions, VitalsConsumer, committed_offsets
from medray.vitals.schema import encode_message, make_reading
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


SECRET = b"test-dlq-secret-0123456789"


def test_malformed_messages_go_to_dead_letter_topic_without_phi(kafka_bootstrap, unique_topic):
    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    good = list(generate_readings(patients=2, hz=1, count=10, seed=2))
    k, v = encode_message(good[0])
    bad = [(b"P0001", b"{not json"), (b"P0001", v.replace(b'"spo2":', b'"spo2":1')),  # spo2 1xx %
           (b"P0002", v), (b"P0001", json.dumps({"v": 9}).encode())]
    _produce(kafka_bootstrap, topic, good[:5], raw=bad)
    _produce(kafka_bootstrap, topic, good[5:])
    cache = VitalsCache()
    con = VitalsConsumer(kafka_bootstrap, "g-" + uuid.uuid4().hex[:6], cache, topic, dlq, ConsumerOptions(**FAST),
                         dlq_secret=SECRET)
    con.start()
    try:
        _wait(lambda: cache.applied + cache.invalid >= 14, what="14 messages handled")
    finally:
        con.stop()
    assert cache.applied == 10 and cache.invalid == 4
    assert cache.invalid_by_reason == {"not_json": 1, "out_of_range": 1, "key_mismatch": 1,
                                       "unsupported_version": 1}
    records = _read_all(kafka_bootstrap, dlq, 4)
    letters = [json.loads(m.value) for m in records]
    assert sorted(d["reason"] for d in letters) == ["key_mismatch", "not_json", "out_of_range",
                                                    "unsupported_version"]
    for m, d in zip(records, letters):
        # Only where it came from, why, and keyed hashes: no raw key or value, no detail echoing values.
        assert set(d) == {"reason", "topic", "partition", "offset", "key_hmac_sha256", "value_hmac_sha256"}
        assert d["topic"] == topic and d["offset"] >= 0
        assert b"P000" not in m.value and b"P000" not in (m.key or b"")
        assert m.key.decode() == d["key_hmac_sha256"]
    nj = {d["reason"]: d for d in letters}["not_json"]
    assert nj["value_hmac_sha256"] == hmac.new(SECRET, b"{not json", hashlib.sha256).hexdigest()
    assert nj["key_hmac_sha256"] == hmac.new(SECRET, b"P0001", hashlib.sha256).hexdigest()
    assert con.stats()["errors"] == 0


def test_poison_and_future_records_are_dead_lettered_and_the_stream_goes_on(kafka_bootstrap, unique_topic):
    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    good = list(generate_readings(patients=2, hz=1, count=20, seed=7))
    future = make_reading("P0001", datetime(9999, 12, 31, tzinfo=timezone.utc), 72, 98, 36.8, 0.2)
    soon = make_reading("P0002", datetime.now(timezone.utc) + timedelta(seconds=60), 72, 98, 36.8, 0.2)  # in skew
    # b"[" * 2000 made the JSON parser raise RecursionError: uncaught, the batch was retried for ever.
    _produce(kafka_bootstrap, topic, good[:10] + [future, soon],
             raw=[(b"P0001", b"[" * 2000), (b"P0002", b"[" * 1500 + b"]" * 1500)])
    _produce(kafka_bootstrap, topic, good[10:])
    cache = VitalsCache()
    con = VitalsConsumer(kafka_bootstrap, "g-" + uuid.uuid4().hex[:6], cache, topic, dlq,
                         ConsumerOptions(max_future_skew_s=300, **FAST), dlq_secret=SECRET).start()
    try:
        _wait(lambda: cache.applied + cache.invalid >= 24 and con.stats()["lag"] == 0, what="24 handled")
    finally:
        con.stop()
    assert cache.applied == 21 and cache.invalid_by_reason == {"not_json": 2, "future_ts": 1}
    assert cache.latest("P0001").ts.year == 2026 and con.stats()["errors"] == 0
    assert sum(v or 0 for v in committed_offsets(kafka_bootstrap, con.group_id, topic).values()) == 24
    assert sorted(json.loads(m.value)["reason"] for m in _read_all(kafka_bootstrap, dlq, 3)) == \
        ["future_ts", "not_json", "not_json"]


def test_health_fails_when_commits_stop_while_messages_wait(kafka_bootstrap, unique_topic):
    from medray.serve.vitals_deployment import VitalsService

    topic, dlq = _topics(kafka_bootstrap, unique_topic)
    _produce(kafka_bootstrap, topic, generate_readings(patients=1, hz=1, count=10, seed=8))

    class BrokenCache(VitalsCache):
        def apply_batch(self, batch, now=None):
            raise OSError("disk full")  # a failure of the whole batch: rewound and retried, never committed

    con = VitalsConsumer(kafka_bootstrap, "g-" + uuid.uuid4().hex[:6], BrokenCache(), topic, dlq,
                         ConsumerOptions(stall_after_s=1.0, **FAST), dlq_secret=SECRET).start()
    service = VitalsService.func_or_class.__new__(VitalsService.func_or_class)
    service.consumer = con
    try:
        assert con.health_problem() is None  # just started: not stalled yet
        _wait(lambda: con.health_problem() is not None, what="stall detected")
        assert con.running and "no commit" in con.health_problem() and "disk full" in con.health_problem()
        with pytest.raises(RuntimeError, match="no commit"):
            service.check_health()
    finally:
        con.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        service.check_health()


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


def test_service_lists_patients_a_page_at_a_time_and_serves_only_complete_readings():
    from medray.serve.vitals_deployment import VitalsService
    from medray.vitals.schema import VitalsReading

    service = VitalsService.func_or_class.__new__(VitalsService.func_or_class)
    service.cache = VitalsCache()
    readings = list(generate_readings(patients=5, hz=1, count=5, seed=9))
    service.cache.apply_batch(readings)
    r = readings[0]
    service.cache.apply_batch([VitalsReading("P0009", r.ts, r.ts_epoch, 80.0, None, None, None)])  # one vital only
    page = service.patients(offset=2, limit=2)
    assert (page["total"], [p["patient_id"] for p in page["patients"]]) == (6, ["P0003", "P0004"])
    assert service.latest("P0001")["heart_rate"] == r.heart_rate and service.latest("P0009") is None
    assert service.patients(offset=5, limit=10)["patients"][0]["missing"] == ["spo2", "temperature", "mobility"]
