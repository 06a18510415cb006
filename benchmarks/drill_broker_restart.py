"""Drill: the Kafka broker is restarted under a steady producer while two vitals shards consume.

    .venv/bin/python benchmarks/drill_broker_restart.py                         # 60 s at 500 msg/s, restart at 20 s
    .venv/bin/python benchmarks/drill_broker_restart.py --seconds 12 --rate 200 --restart-at 4 --out /tmp/b.json

A restart only means something if the broker keeps its log, so tansu runs on its S3 storage engine against a
local S3 endpoint (moto's server, a process of this drill; tansu's memory engine forgets everything on exit).
The producer is idempotent with acks=all and keeps retrying while the broker is away; two VitalsConsumer shards
(explicit partition assignment, commit after apply) keep polling through the outage. At ``--restart-at`` s the
broker gets SIGTERM (SIGKILL after 5 s) and is started again on the same port with the same storage.

Checked against the producer's acknowledgements: lost = acknowledged (partition, offset) never applied by a
shard (must be 0); failed sends; duplicate writes = records in the topic beyond the readings sent (idempotence
must make it 0); redelivered = applications beyond the first. Recovery: broker down time, then from the broker
being ready again to the producer's first acknowledgement and to each shard's first commit.

Writes benchmarks/results/drill_broker_restart.json and prints one line. The machine is shared (load recorded).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "drill_broker_restart.json"
S3_ENV = {"AWS_ACCESS_KEY_ID": "drill", "AWS_SECRET_ACCESS_KEY": "drill-secret", "AWS_DEFAULT_REGION": "eu-west-2",
          "AWS_ALLOW_HTTP": "true"}


def start_s3(port: int, bucket: str) -> subprocess.Popen:
    """moto's S3 server on loopback with one bucket (stopped by PID by the caller)."""
    import boto3

    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="drill",
                      aws_secret_access_key="drill-secret", region_name="eu-west-2")
    deadline = time.monotonic() + 60
    while True:
        try:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
            return proc
        except Exception:  # noqa: BLE001 - not listening yet
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto S3 server did not start")
            time.sleep(0.3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the producer sends")
    ap.add_argument("--rate", type=float, default=500.0, help="producer msg/s")
    ap.add_argument("--restart-at", type=float, default=20.0, help="seconds into the stream")
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from medray.ports import free_port
    from medray.vitals.broker import ensure_topics, start_broker
    from medray.vitals.cache import VitalsCache
    from medray.vitals.consumer import ConsumerOptions, VitalsConsumer
    from medray.vitals.schema import encode_message
    from medray.vitals.sharding import Shard
    from medray.vitals.simulator import generate_readings

    load0, t_start = os.getloadavg(), time.time()
    s3_port, bucket = free_port(), "tansu"
    env = {**S3_ENV, "AWS_ENDPOINT": f"http://127.0.0.1:{s3_port}"}
    s3 = start_s3(s3_port, bucket)
    broker = start_broker(storage=f"s3://{bucket}/", env=env)
    port, topic, group = broker.port, "drill.restart", "drill-" + uuid.uuid4().hex[:6]
    applied: list[tuple[int, int]] = []
    commits: list[tuple[int, float]] = []  # (shard, time)
    lock = threading.Lock()

    class Recording(VitalsConsumer):
        def _commit(self, records):
            with lock:
                applied.extend((tp.partition, m.offset) for tp, msgs in records.items() for m in msgs)
            super()._commit(records)
            with lock:
                commits.append((self.shard.index, time.time()))

    shards, acks, failures = [], [], []
    n = int(a.seconds * a.rate)
    try:
        ensure_topics(broker.bootstrap, [topic, topic + ".dlq"], partitions=8)
        shards = [Recording(broker.bootstrap, group, VitalsCache(), topic, topic + ".dlq", ConsumerOptions(),
                            dlq_secret=b"r" * 16, shard=Shard(i, a.shards)).start() for i in range(a.shards)]
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True,
                                 linger_ms=5, retries=2**31 - 1, delivery_timeout_ms=int(a.timeout * 1000),
                                 request_timeout_ms=10_000, reconnect_backoff_max_ms=1000)

        def on_ack(meta):
            acks.append((meta.partition, meta.offset, time.time()))

        t0, restart = time.monotonic(), {}
        for i, r in enumerate(generate_readings(patients=a.patients, hz=1.0, duration_s=None, count=n, seed=11)):
            key, value = encode_message(r)
            producer.send(topic, key=key, value=value).add_callback(on_ack).add_errback(failures.append)
            if i % 100 == 99:
                time.sleep(max(0.0, t0 + (i + 1) / a.rate - time.monotonic()))
            if not restart and time.monotonic() - t0 >= a.restart_at:
                restart["t_stop"] = time.time()
                broker.stop()
                restart["t_stopped"] = time.time()
                broker = start_broker(port=port, storage=f"s3://{bucket}/", env=env)
                restart["t_ready"] = time.time()
        producer.flush(a.timeout)
        producer.close(30)
        deadline = time.monotonic() + a.timeout
        acked = {(p, o) for p, o, _ in acks}
        while time.monotonic() < deadline:
            with lock:
                if set(applied) >= acked:
                    break
            time.sleep(0.2)
    finally:
        for s in shards:
            s.stop()
        in_topic = None
        try:  # read the whole topic back: a duplicate written by a retry would show as an extra record
            # (counted by reading, not by end offsets: tansu's ListOffsets(latest) can lag behind)
            c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                              auto_offset_reset="earliest")
            c.assign([TopicPartition(topic, p) for p in range(8)])
            c.seek_to_beginning()
            in_topic, quiet = 0, time.monotonic()
            # until all sent are back and 3 s more bring nothing (extra copies would), or 30 s bring nothing
            # (fetches from the S3-backed broker are slow on a loaded machine)
            while time.monotonic() - quiet < (3.0 if in_topic >= n else 30.0):
                got = sum(len(v) for v in c.poll(500).values())
                if got:
                    in_topic, quiet = in_topic + got, time.monotonic()
            c.close()
        except Exception as e:  # noqa: BLE001
            in_topic = f"unavailable: {e}"
        broker.stop()
        s3.terminate()
        s3.wait(10)

    acked = {(p, o) for p, o, _ in acks}
    uniq = set(applied)
    after = lambda ts: [t - restart["t_ready"] for t in ts if t > restart["t_ready"]]  # noqa: E731
    shard_first = {i: min(after([t for s, t in commits if s == i]), default=None) for i in range(a.shards)}
    result = {
        "drill": "broker restarted under a steady producer", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
                    "note": "shared with other engineers and background training runs: contended"},
        "broker": "tansu, S3 storage engine on a local moto S3 server; restarted on the same port",
        "producer": "kafka-python, enable_idempotence=True, acks=all, unbounded retries",
        "config": vars(a) | {"out": str(a.out)},
        "sent": n, "acked": len(acked), "send_failures": len(failures), "records_in_topic": in_topic,
        "duplicate_writes": in_topic - n if isinstance(in_topic, int) else None,
        "lost": len(acked - uniq), "applied_unique": len(uniq & acked), "redelivered": len(applied) - len(uniq),
        "broker_down_s": restart["t_ready"] - restart["t_stop"],
        "broker_stop_s": restart["t_stopped"] - restart["t_stop"], "broker_start_s": restart["t_ready"] - restart["t_stopped"],
        "producer_first_ack_after_ready_s": min(after([t for *_, t in acks]), default=None),
        "shard_first_commit_after_ready_s": shard_first,
        "all_shards_reconnected": all(v is not None for v in shard_first.values()),
        "consumer_errors": [s.counters["errors"] for s in shards], "wall_s": time.time() - t_start,
    }
    result["pass"] = (result["lost"] == 0 and result["send_failures"] == 0 and result["acked"] == n
                      and result["all_shards_reconnected"] and result["duplicate_writes"] == 0)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    firsts = [v for v in shard_first.values() if v is not None]
    print(f"drill_broker_restart: {n:,} sent at {a.rate:.0f} msg/s, broker down {result['broker_down_s']:.1f} s: "
          f"acked {len(acked):,}, failed {len(failures)}, duplicate writes {result['duplicate_writes']}, lost "
          f"{result['lost']}, redelivered {result['redelivered']}; after the broker was back: producer "
          f"{result['producer_first_ack_after_ready_s'] or float('nan'):.1f} s, shards "
          f"{max(firsts, default=float('nan')):.1f} s; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus "
          f"-> {a.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
