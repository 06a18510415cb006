"""Chaos drill for the Serve app (issue 6): 16 clients post /v1/enhance (32×32 PNG) for ``--seconds`` while
one live Enhancer replica is killed every second (``ray.kill``, no restart: Serve's controller replaces it).
The Enhancer runs ``--replicas`` (≥ 2) replicas of a small seeded IoT-GAN checkpoint (width 8, depth 1). Reports the failed-request ratio (target ≤ 0.1 %), kills
done, and latency. Writes benchmarks/results/chaos_serve.json and prints one summary line.

What a kill costs: requests already routed to the dying replica fail inside the ingress, which re-sends
them (model calls are idempotent, medray/serve/app.py ``_retrying``); the handle routes new ones to the
replicas still alive, and queues them while none is."""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_harness import RESULTS, http_load, load_avg, make_checkpoint, medray_cluster, png_body  # noqa: E402


def running_enhancers(app: str = "medray") -> int:
    from ray import serve

    states = serve.status().applications[app].deployments["Enhancer"].replica_states
    return sum(n for state, n in states.items() if str(getattr(state, "value", state)) == "RUNNING")


def live_enhancer_replicas(app: str = "medray") -> list[tuple[str, str]]:
    import ray

    return [(a["name"], a["namespace"]) for a in ray.util.list_named_actors(all_namespaces=True)
            if a["name"].startswith("SERVE_REPLICA::") and f"{app}#Enhancer#" in a["name"]]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.replicas < 2:
        p.error("--replicas must be ≥ 2")
    import tempfile

    import ray

    ckpt = make_checkpoint(Path(tempfile.mkdtemp(prefix="medray-chaos-")) / "medray.pt", 8, 1)
    rng = random.Random(a.seed)
    small = {"ray_actor_options": {"num_cpus": 0.1}}
    deployments = {"MedrayIngress": small, "Synthesizer": small, "VitalsService": small,
                   "Enhancer": {**small, "num_replicas": a.replicas, "autoscaling_config": None}}
    kills: list[str] = []
    skipped = [0]

    def kill_one():
        live = live_enhancer_replicas()
        # Never take the last *running* one (named actors include replicas still starting): a kill with
        # nothing ready measures replica start-up under load, not failover.
        if len(live) < 2 or running_enhancers() < 2:
            skipped[0] += 1
            return
        name, ns = rng.choice(live)
        try:
            ray.kill(ray.get_actor(name, namespace=ns), no_restart=True)
            kills.append(name.rsplit("#", 1)[-1])
        except ValueError:  # gone between listing and kill
            skipped[0] += 1

    with medray_cluster(args={"checkpoint": str(ckpt), "torch_threads": 1}, deployments=deployments) as (url, _):
        body, hdr = png_body(32), {"Content-Type": "image/png"}
        http_load(f"{url}/v1/enhance", body, hdr, 4, 3.0)  # warm up
        res = http_load(f"{url}/v1/enhance", body, hdr, a.clients, a.seconds, on_tick=kill_one)
    total = res["ok"] + res["failed"]
    out = {"replicas": a.replicas, "kills": len(kills), "kill_ticks_skipped": skipped[0], **res,
           "failed_ratio": res["failed"] / max(total, 1), "target_failed_ratio": 0.001, "load_avg": load_avg(),
           "note": "kills every second target Enhancer replicas; a tick is skipped when fewer than 2 are RUNNING"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chaos_serve.json").write_text(json.dumps(out, indent=2))
    print(f"chaos_serve: {len(kills)} Enhancer replicas killed in {res['seconds']:.0f} s ({a.replicas} replicas, "
          f"{skipped[0]} ticks skipped), {total} requests, {res['failed']} failed = {100 * out['failed_ratio']:.3f} % "
          f"(target ≤ 0.1 %), {res['rps']:.0f} req/s, p99 {res['p99_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
