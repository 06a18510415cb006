"""Shared by benchmarks/serve.py and benchmarks/chaos_serve.py: bring up the serving stack (broker + Ray + the
medray Serve app from the package's config, with overrides), and drive HTTP load from client threads."""
from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

RESULTS = Path(__file__).resolve().parent / "results"


def png_body(side: int = 64, seed: int = 0) -> bytes:
    arr = (np.random.default_rng(seed).random((side, side)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_checkpoint(path: Path, width: int, depth: int) -> Path:
    """A real IoT-GAN checkpoint with seeded random weights (speed does not depend on the values)."""
    import torch

    from medray.models.checkpoint import save_checkpoint
    from medray.models.sr_generator import SRGeneratorConfig, build_generator

    torch.manual_seed(0)
    cfg = SRGeneratorConfig(in_channels=1, scale=2, width=width, depth=depth)
    return save_checkpoint(path, kind="iotgan", config=cfg, state_dict=build_generator(cfg).state_dict())


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


@contextlib.contextmanager
def medray_cluster(extra_apps: dict[str, dict] | None = None, args: dict | None = None,
                   deployments: dict[str, dict] | None = None):
    """Yields (base_url, config): the serving stack (medray/serve/stack.py) on its own 2-CPU Ray, embedded broker,
    loopback HTTP on a free port. ``extra_apps`` maps a name to arg overrides for a second copy of the app at
    route ``/<name>`` (e.g. batching off). Everything started here is stopped on exit, by PID."""
    from medray.ports import free_port
    from medray.serve.stack import serving_stack

    ray_init = dict(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    args = {"insecure_dev": True, **(args or {})}  # a local benchmark: no token, loopback only
    with serving_stack(port=free_port(), host="127.0.0.1", args=args, deployments=deployments,
                       extra_apps=extra_apps, ray_init=ray_init) as stack:
        yield stack.url, stack.config


def sequential_latency(session: requests.Session, url: str, body: bytes, headers: dict, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = session.post(url, data=body, headers=headers, timeout=60)
        out.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return out


def http_load(url: str, body: bytes, headers: dict, clients: int, duration_s: float,
              on_tick=None, retry_once: bool = False) -> dict:
    """``clients`` threads post back to back for ``duration_s``; counts successes and failures (non-200 or
    connection error). ``on_tick`` (if given) runs in the caller's thread once per second meanwhile.
    ``retry_once``: a connection error or 503 is sent once more (counted in ``retried``); latency then covers both."""
    stop = threading.Event()
    ok, failed, lat, errors, retried = [0] * clients, [0] * clients, [[] for _ in range(clients)], {}, [0] * clients
    lock = threading.Lock()

    def post(s: requests.Session) -> tuple[bool, str | None]:
        try:
            r = s.post(url, data=body, headers=headers, timeout=60)
            return r.status_code == 200, None if r.status_code == 200 else f"HTTP {r.status_code}"
        except requests.RequestException as e:
            return False, type(e).__name__

    def worker(i: int) -> None:
        s = requests.Session()
        while not stop.is_set():
            t0 = time.perf_counter()
            good, why = post(s)
            if not good and retry_once and why in ("HTTP 503", "ConnectionError"):
                retried[i] += 1
                good, why = post(s)
            if good:
                ok[i] += 1
                lat[i].append((time.perf_counter() - t0) * 1000)
            else:
                failed[i] += 1
                with lock:
                    errors[why] = errors.get(why, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    while time.perf_counter() - t_start < duration_s:
        time.sleep(1.0)
        if on_tick is not None:
            on_tick()
    stop.set()
    for t in threads:
        t.join(70)
    elapsed = time.perf_counter() - t_start
    lats = [x for xs in lat for x in xs]
    return {"clients": clients, "seconds": elapsed, "ok": sum(ok), "failed": sum(failed), "errors": errors,
            "retried": sum(retried),
            "rps": sum(ok) / elapsed, "p50_ms": pct(lats, 50), "p99_ms": pct(lats, 99)}


def load_avg() -> list[float]:
    return list(os.getloadavg())
