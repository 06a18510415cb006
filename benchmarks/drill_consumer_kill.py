"""Drill: the vitals consumer is SIGKILLed between applying a batch and committing it, again and again.

    .venv/bin/python benchmarks/drill_consumer_kill.py                  # 5 kills over 50,000 messages
    .venv/bin/python benchmarks/drill_consumer_kill.py --messages 3000 --kills 2 --out /tmp/d.json   # the test's size

A producer sends ``--messages`` keyed v1 readings at ``--rate`` msg/s to an 8-partition topic (embedded tansu)
while a consumer process (VitalsConsumer, shard 0 of 1: every partition, commits under one group) drains it.
That process kills itself with SIGKILL inside ``_commit`` (after the batch is in its cache, before the offsets
are committed) after a seeded random number of batches; the driver restarts it at once, ``--kills`` times, then
lets a last one run to the end. Every process appends what it applied (partition, offsets) to a log before the
kill point, so the driver can check, against the producer's own (partition, offset) of every message:

- lost = produced offsets no process ever applied (must be 0: at-least-once),
- redelivered = applications beyond the first of the same offset (the duplicates at-least-once costs; each kill
  should cost exactly the batch it killed), and the caches' own duplicate counters,
- recovery = time from a kill to the next process's first commit (includes starting a Python process).

Writes benchmarks/results/drill_consumer_kill.json and prints one line. The machine is shared (load recorded).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "drill_consumer_kill.json"


def worker(spec: dict) -> None:
    from medray.vitals.cache import VitalsCache
    from medray.vitals.consumer import ConsumerOptions, VitalsConsumer
    from medray.vitals.sharding import Shard

    log_fd = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(event: str, **kw) -> None:  # one write(2) per line: a SIGKILL cannot leave half of it
        os.write(log_fd, (json.dumps({"inc": spec["inc"], "event": event, "t": time.time(), **kw}) + "\n").encode())

    class KilledBetweenApplyAndCommit(VitalsConsumer):
        batches = 0

        def _commit(self, records):
            ranges = [[tp.partition, msgs[0].offset, msgs[-1].offset] for tp, msgs in records.items()]
            note("applied", ranges=ranges, duplicates=self.cache.duplicates)
            self.batches += 1
            if self.batches == spec["kill_at"]:
                os.kill(os.getpid(), signal.SIGKILL)  # no stop(), no leave, no commit: a crashed replica
            super()._commit(records)
            note("committed")

    con = KilledBetweenApplyAndCommit(
        spec["bootstrap"], spec["group"], VitalsCache(), spec["topic"], spec["topic"] + ".dlq",
        ConsumerOptions(max_poll_records=spec["max_records"]), dlq_secret=b"d" * 16, shard=Shard(0, 1))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    note("start")
    con.start()
    while not stop.is_set() and con.running:
        stop.wait(0.1)
    con.stop()
    note("stopped", cache=con.cache.stats())


def produce(bootstrap: str, topic: str, n: int, rate: float, patients: int, placed: list) -> None:
    from kafka import KafkaProducer

    from medray.vitals.schema import encode_message
    from medray.vitals.simulator import generate_readings

    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all", enable_idempotence=True)
    t0, futures = time.monotonic(), []
    for i, r in enumerate(generate_readings(patients=patients, hz=1.0, duration_s=None, count=n, seed=7)):
        key, value = encode_message(r)
        futures.append(p.send(topic, key=key, value=value))
        if i % 500 == 499:  # steady pace: a chunk, then wait until the schedule catches up
            time.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
    p.flush()
    placed.extend((m.partition, m.offset) for m in (f.get(30) for f in futures))
    p.close()


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _applied(log: Path) -> set:
    return {(q, o) for e in read_log(log) if e["event"] == "applied" for q, lo, hi in e["ranges"]
            for o in range(lo, hi + 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--rate", type=float, default=2500.0, help="producer msg/s")
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--max-records", type=int, default=500, help="batch size: smaller → kills land mid-stream")
    ap.add_argument("--kill-after", type=int, nargs=2, default=[3, 10], help="batches before a kill (min max)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=400.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if a.worker:
        worker(json.loads(a.worker))
        return 0

    from medray.vitals.broker import ensure_topics, start_broker

    rng, load0, t_start = random.Random(a.seed), os.getloadavg(), time.time()
    log = Path(f"/tmp/medray-drill-kill-{uuid.uuid4().hex[:8]}.jsonl")
    broker = start_broker()
    procs: list[subprocess.Popen] = []
    try:
        topic, group = "drill.kill", "drill-" + uuid.uuid4().hex[:6]
        ensure_topics(broker.bootstrap, [topic, topic + ".dlq"], partitions=8)
        placed: list = []
        producer = threading.Thread(target=produce, args=(broker.bootstrap, topic, a.messages, a.rate,
                                                          a.patients, placed), daemon=True)
        producer.start()
        spec = {"bootstrap": broker.bootstrap, "topic": topic, "group": group, "log": str(log),
                "max_records": a.max_records}
        kills, deadline = [], time.monotonic() + a.timeout
        for inc in range(a.kills + 1):
            last = inc == a.kills
            kill_at = -1 if last else rng.randint(*a.kill_after)
            p = subprocess.Popen([sys.executable, __file__, "--worker",
                                  json.dumps({**spec, "inc": inc, "kill_at": kill_at})])
            procs.append(p)
            if last:
                break
            idle_since = None
            while p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                if not producer.is_alive() and _applied(log) >= set(placed):  # nothing left to kill it in
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 5:
                        raise RuntimeError(f"the stream ended before kill {inc + 1}: more --messages or a "
                                           f"smaller --max-records / --kill-after")
            if p.returncode != -signal.SIGKILL:
                raise RuntimeError(f"incarnation {inc} ended with {p.returncode}, not by its SIGKILL")
            kills.append({"inc": inc, "kill_at_batch": kill_at, "t": time.time()})
        producer.join(a.timeout)
        produced = set(placed)
        if len(produced) != a.messages:
            raise RuntimeError(f"producer placed {len(produced)}/{a.messages}")
        while time.monotonic() < deadline and not _applied(log) >= produced:  # the last one runs to the end
            time.sleep(0.5)
        procs[-1].send_signal(signal.SIGTERM)
        procs[-1].wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        broker.stop()

    events = read_log(log)
    log.unlink(missing_ok=True)
    applied_list = [(q, o) for e in events if e["event"] == "applied" for q, lo, hi in e["ranges"]
                    for o in range(lo, hi + 1)]
    applied = set(applied_list)
    killed_batches = []
    for k in kills:  # the batch each kill interrupted: the last "applied" of that incarnation
        mine = [e for e in events if e["inc"] == k["inc"] and e["event"] == "applied"]
        killed_batches.append(sum(hi - lo + 1 for _, lo, hi in mine[-1]["ranges"]) if mine else 0)
    recovery, resume = [], []
    for k in kills:
        nxt = [e["t"] for e in events if e["inc"] == k["inc"] + 1 and e["event"] == "committed"]
        began = [e["t"] for e in events if e["inc"] == k["inc"] + 1 and e["event"] == "start"]
        recovery.append(round(nxt[0] - k["t"], 3) if nxt else None)
        resume.append(round(nxt[0] - began[0], 3) if nxt and began else None)  # without the interpreter start
    final = next((e for e in events if e["event"] == "stopped"), {})
    result = {
        "drill": "consumer killed between apply and commit", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
                    "note": "shared with other engineers and background training runs: contended"},
        "config": {k: v for k, v in vars(a).items() if k != "worker"} | {"out": str(a.out)},
        "produced": len(produced), "kills": len(kills), "kill_at_batches": [k["kill_at_batch"] for k in kills],
        "lost": len(produced - applied), "applied_unique": len(applied & produced),
        "redelivered": len(applied_list) - len(applied), "killed_batch_sizes": killed_batches,
        "redelivered_equals_killed_batches": len(applied_list) - len(applied) == sum(killed_batches),
        "final_cache": final.get("cache"), "recovery_s": recovery, "first_commit_after_process_start_s": resume, "wall_s": time.time() - t_start,
    }
    result["pass"] = result["lost"] == 0 and result["kills"] == a.kills
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    rec = [r for r in recovery if r is not None]
    print(f"drill_consumer_kill: {result['kills']} SIGKILLs between apply and commit over {len(produced):,} messages: "
          f"lost {result['lost']}, redelivered {result['redelivered']:,} (= killed batches "
          f"{sum(killed_batches):,}: {result['redelivered_equals_killed_batches']}), recovery "
          f"{min(rec, default=0):.1f}-{max(rec, default=0):.1f} s (process restart included; first commit "
          f"{max((r for r in resume if r is not None), default=0):.1f} s after start at most); "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus -> {a.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
