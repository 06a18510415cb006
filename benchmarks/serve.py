"""Serve latency and batching benchmark (issue 6), all in one run on one machine:

1. p50/p99 of a direct model call (the IoT-GAN generator forward on one slice, in this process),
2. p50/p99 of a bare Serve echo endpoint over HTTP (FastAPI ingress returning the body: Serve's own hop),
3. p50/p99 of POST /v1/enhance with the same slice as a PNG over HTTP (sequential, one client),
   medray's own overhead = enhance − model call − echo (p50; target ≤ 2 ms),
4. throughput at 16 concurrent HTTP clients with @serve.batch vs the same app with batching off
   (target ≥ 3×), and the same through a DeploymentHandle straight to the Enhancer (no HTTP/ingress).

The model is SRGeneratorConfig(width, depth) with seeded random weights saved as a real checkpoint (speed
does not depend on the weight values; default: the project default width 32, depth 4), served from that
checkpoint and called directly from the same file; torch at 1 thread in the replicas and here. The input
is a SIDE×SIDE 8-bit PNG (default 32). Writes benchmarks/results/serve.json (or --out) and prints one
summary line.
"""

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_harness import (RESULTS, http_load, load_avg, make_checkpoint, medray_cluster, pct, png_body,  # noqa: E402
                           sequential_latency)

def direct_model(ckpt: Path, side: int, n: int) -> list[float]:
    from medray import tasks

    torch.set_num_threads(1)
    g = tasks.load(ckpt).model
    x = torch.rand(1, 1, side, side)
    out = []
    with torch.no_grad():
        for i in range(n + 5):
            t0 = time.perf_counter()
            g(x, None, torch.tensor([0.5]))
            if i >= 5:
                out.append((time.perf_counter() - t0) * 1000)
    return out


def echo_app():
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
    from ray import serve

    api = FastAPI()

    @serve.deployment(ray_actor_options={"num_cpus": 0.1})
    @serve.ingress(api)
    class Echo:
        @api.post("/")
        async def echo(self, request: Request):
            return Response(await request.body(), media_type="application/octet-stream")

    return Echo.bind()


def handle_throughput(app_name: str, side: int, clients: int, duration_s: float) -> dict:
    from ray import serve

    from medray.serve.enhancer import EnhanceJob

    h = serve.get_deployment_handle("Enhancer", app_name)
    job = EnhanceJob(np.random.default_rng(0).random((1, 1, side, side)).astype(np.float32), None, None)
    h.enhance.remote(job).result()
    stop, counts = threading.Event(), [0] * clients

    def worker(i):
        while not stop.is_set():
            h.enhance.remote(job).result()
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(duration_s)
    stop.set()
    for t in threads:
        t.join(60)
    return {"clients": clients, "rps": sum(counts) / (time.perf_counter() - t0)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="sequential requests per latency figure")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=15.0, help="duration of each throughput run")
    p.add_argument("--side", type=int, default=32, help="input side in pixels")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    a = p.parse_args()
    import tempfile

    from ray import serve

    ckpt = make_checkpoint(Path(tempfile.mkdtemp(prefix="medray-bench-")) / "medray.pt", a.width, a.depth)
    model_ms = direct_model(ckpt, a.side, a.n)
    small = {"ray_actor_options": {"num_cpus": 0.1}}
    deployments = {"MedrayIngress": small, "Synthesizer": small, "VitalsService": small,
                   "Enhancer": {**small, "num_replicas": 1, "autoscaling_config": None}}
    with medray_cluster(extra_apps={"nobatch": {"batching": False}},
                        args={"checkpoint": str(ckpt), "torch_threads": 1}, deployments=deployments) as (url, cfg):
        serve.run(echo_app(), name="echo", route_prefix="/echo")
        body, hdr = png_body(a.side), {"Content-Type": "image/png"}
        s = requests.Session()
        sequential_latency(s, f"{url}/echo", body, hdr, 20)
        sequential_latency(s, f"{url}/v1/enhance", body, hdr, 20)
        echo_ms = sequential_latency(s, f"{url}/echo", body, hdr, a.n)
        enhance_ms = sequential_latency(s, f"{url}/v1/enhance", body, hdr, a.n)
        thr_batch = http_load(f"{url}/v1/enhance", body, hdr, a.clients, a.seconds)
        thr_nobatch = http_load(f"{url}/nobatch/v1/enhance", body, hdr, a.clients, a.seconds)
        h_batch = handle_throughput("medray", a.side, a.clients, a.seconds)
        h_nobatch = handle_throughput("nobatch", a.side, a.clients, a.seconds)
    stat = lambda xs: {"p50_ms": pct(xs, 50), "p99_ms": pct(xs, 99), "n": len(xs)}  # noqa: E731
    res = {
        "input": f"{a.side}x{a.side} 8-bit PNG, scale 2, SRGeneratorConfig(width={a.width}, depth={a.depth}) "
                 "random weights, torch 1 thread",
        "model_call": stat(model_ms), "serve_echo": stat(echo_ms), "enhance": stat(enhance_ms),
        "overhead_p50_ms": pct(enhance_ms, 50) - pct(model_ms, 50) - pct(echo_ms, 50),
        "overhead_target_ms": 2.0,
        "throughput_http": {"batched": thr_batch, "unbatched": thr_nobatch,
                            "ratio": thr_batch["rps"] / max(thr_nobatch["rps"], 1e-9)},
        "throughput_handle": {"batched": h_batch, "unbatched": h_nobatch,
                              "ratio": h_batch["rps"] / max(h_nobatch["rps"], 1e-9)},
        "ratio_target": 3.0, "load_avg": load_avg(),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2))
    print(f"serve ({a.side}² px, width {a.width} depth {a.depth}, load avg {res['load_avg'][0]:.1f}): model p50 {res['model_call']['p50_ms']:.2f} ms, echo p50 {res['serve_echo']['p50_ms']:.2f} ms, "
          f"enhance p50/p99 {res['enhance']['p50_ms']:.2f}/{res['enhance']['p99_ms']:.2f} ms, "
          f"overhead p50 {res['overhead_p50_ms']:.2f} ms (target ≤2); batch vs no-batch at {a.clients} clients: "
          f"HTTP {thr_batch['rps']:.0f}/{thr_nobatch['rps']:.0f} req/s = {res['throughput_http']['ratio']:.2f}×, "
          f"handle {h_batch['rps']:.0f}/{h_nobatch['rps']:.0f} = {res['throughput_handle']['ratio']:.2f}× (target ≥3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
