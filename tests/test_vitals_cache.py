"""VitalsCache: latest + rolling window, duplicate detection by (patient, ts), staleness, thread safety."""
import threading
from datetime import datetime, timedelta, timezone

from medray.vitals.cache import VitalsCache
from medray.vitals.schema import make_reading

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _r(pid="P0001", s=0.0, hr=70):
    return make_reading(pid, T0 + timedelta(seconds=s), hr, 97, 36.8, 0.2)


def test_latest_window_and_counters():
    c = VitalsCache(window_s=10.0)
    assert c.apply_batch([_r(s=i, hr=60 + i) for i in range(30)]) == (30, 0)
    assert c.latest("P0001").heart_rate == 89
    w = c.window("P0001")
    assert [r.heart_rate for r in w] == list(range(79, 90))  # ts 19..29: within 10 s of the latest
    assert c.latest("nobody") is None and c.window("nobody") == [] and c.staleness_s("nobody") is None
    s = c.stats(now=_r(s=31).ts_epoch)
    assert (s["patients"], s["applied"], s["duplicates"], s["invalid"]) == (1, 30, 0, 0)
    assert s["age_s_max"] == 2.0


def test_duplicates_by_patient_and_ts_are_counted_not_applied():
    c = VitalsCache()
    c.apply_batch([_r(s=1), _r(s=2), _r("P0002", s=1)])
    assert c.apply_batch([_r(s=1, hr=99), _r(s=2), _r(s=3)]) == (1, 2)
    assert c.latest("P0001").ts_epoch == _r(s=3).ts_epoch
    assert c.window("P0001")[0].heart_rate == 70  # the duplicate did not overwrite the first delivery
    assert (c.applied, c.duplicates) == (4, 2)


def test_out_of_order_reading_goes_into_window_not_latest():
    c = VitalsCache(window_s=60.0)
    c.apply_batch([_r(s=10), _r(s=30)])
    c.apply_batch([_r(s=20, hr=111)])
    assert c.latest("P0001").heart_rate == 70
    assert [r.ts_epoch - T0.timestamp() for r in c.window("P0001")] == [10, 20, 30]


def test_readings_older_than_dedup_horizon_are_late():
    c = VitalsCache(dedup_horizon=5)
    c.apply_batch([_r(s=i) for i in range(10)])
    assert c.apply_batch([_r(s=2)]) == (0, 1)   # forgotten ts: cannot tell, counted as late
    assert c.apply_batch([_r(s=8)]) == (0, 1)   # remembered ts: duplicate
    assert (c.applied, c.duplicates, c.late) == (10, 1, 1)
    assert len(c.seen("P0001")) == 5


def test_staleness_and_snapshot():
    now = [_r(s=5).ts_epoch]
    c = VitalsCache(clock=lambda: now[0])
    c.apply_batch([_r(s=1, hr=60), _r(s=2, hr=80)])
    assert c.staleness_s("P0001") == 3.0
    snap = c.snapshot("P0001")
    assert snap["latest"]["heart_rate"] == 80 and snap["latest"]["ts"] == "2026-01-01T00:00:02.000Z"
    assert snap["window"]["n"] == 2 and snap["window"]["heart_rate"] == {"mean": 70.0, "min": 60, "max": 80}
    assert snap["staleness_s"] == 3.0
    assert c.snapshot("nobody") is None


def test_invalid_counted_by_reason():
    c = VitalsCache()
    c.record_invalid(["not_json", "out_of_range", "not_json"])
    assert c.stats()["invalid_by_reason"] == {"not_json": 2, "out_of_range": 1} and c.invalid == 3


def test_concurrent_writers_and_readers_lose_nothing():
    c = VitalsCache(window_s=1e9, window_max=10_000)
    errors = []

    def write(pid):
        for b in range(20):
            c.apply_batch([_r(pid, s=b * 50 + i) for i in range(50)])

    def read():
        for _ in range(40):
            try:
                for pid in c.patients():
                    w = c.window(pid)
                    assert all(a.ts_epoch < b.ts_epoch for a, b in zip(w, w[1:]))
                    c.snapshot(pid)
            except Exception as e:  # surfaced below; a thread exception would otherwise be lost
                errors.append(e)

    threads = [threading.Thread(target=write, args=(f"P{i:04d}",)) for i in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert c.applied == 4 * 1000 and c.duplicates == 0
    assert all(len(c.window(f"P{i:04d}")) == 1000 for i in range(4))


def _one(name, s, value, pid="P0001"):
    """A partial reading carrying one vital (what a FHIR Observation gives)."""
    from medray.vitals.schema import VitalsReading

    vals = {"heart_rate": None, "spo2": None, "temperature": None, "mobility": None, name: value}
    ts = T0 + timedelta(seconds=s)
    return VitalsReading(pid, ts, ts.timestamp(), **vals)


def test_partial_readings_merge_and_nothing_is_served_until_all_four_arrived():
    c = VitalsCache()
    c.apply_batch([_one("heart_rate", 1, 80), _one("spo2", 1, 95), _one("temperature", 2, 37.5)])
    assert c.latest("P0001") is None and c.staleness_s("P0001") is None and c.snapshot("P0001") is None
    assert c.partial("P0001") == {"heart_rate": 80, "spo2": 95, "temperature": 37.5, "mobility": None}
    assert c.patients_page()["patients"][0]["missing"] == ["mobility"]
    c.apply_batch([_one("mobility", 3, 0.4), _one("heart_rate", 4, 90), _one("heart_rate", 0, 60)])
    merged = c.latest("P0001")
    assert merged.as_vector() == (90, 95, 37.5, 0.4)  # newest of each vital; the older heart rate lost
    assert merged.ts_epoch == _one("spo2", 1, 95).ts_epoch  # stamped with its stalest vital
    # Same ts, different vitals: not duplicates; the same vital again: a duplicate.
    assert c.apply_batch([_one("spo2", 5, 96), _one("mobility", 5, 0.5), _one("spo2", 5, 96)]) == (2, 1)


def test_idle_patients_are_evicted_after_the_ttl():
    now = [T0.timestamp()]
    c = VitalsCache(ttl_s=60.0, clock=lambda: now[0])
    c.apply_batch([_r("P0001", s=0), _r("P0002", s=0)])
    now[0] += 50
    c.apply_batch([_r("P0002", s=50)])
    now[0] += 20  # P0001 idle for 70 s, P0002 for 20 s
    assert c.evict_idle() == 1
    assert c.patients() == ["P0002"] and c.latest("P0001") is None and c.stats()["evicted"] == 1


def test_patient_count_is_capped_least_recently_heard_first():
    c = VitalsCache(max_patients=3)
    for i in range(5):
        c.apply_batch([_r(f"P{i:04d}", s=i)], now=T0.timestamp() + i)
    assert c.patients() == ["P0002", "P0003", "P0004"] and c.evicted == 2


def test_dedup_memory_is_bounded_in_time_too():
    c = VitalsCache(dedup_horizon=10_000, dedup_horizon_s=10.0)
    c.apply_batch([_r(s=i) for i in range(100)])
    assert len(c.seen("P0001")) == 11  # ts 89..99
    assert c.apply_batch([_r(s=50)]) == (0, 1) and c.late == 1


def test_listing_is_paginated():
    c = VitalsCache()
    c.apply_batch([_r(f"P{i:04d}", s=1) for i in range(25)])
    page = c.patients_page(offset=20, limit=10, now=_r(s=3).ts_epoch)
    assert (page["total"], page["offset"], page["limit"]) == (25, 20, 10)
    assert [p["patient_id"] for p in page["patients"]] == [f"P{i:04d}" for i in range(20, 25)]
    assert page["patients"][0] == {"patient_id": "P0020", "age_s": 2.0, "missing": []}
    assert c.patients(offset=5, limit=2) == ["P0005", "P0006"]


def test_partial_keys_are_forgotten_like_full_ones():
    c = VitalsCache(dedup_horizon=4)
    c.apply_batch([_one("spo2", i, 95) for i in range(10)])
    assert len(c.seen("P0001")) == 4 and c.apply_batch([_one("spo2", 2, 95)]) == (0, 1) and c.late == 1
