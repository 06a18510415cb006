"""Fuzz medray's two front doors with mutated real scans (benchmarks/fuzz_mutators.py):

  (a) ingest: ``run_ingest`` over folders of ``--batch`` mutated DICOM/NIfTI files, valid files mixed in;
  (b) a running Serve app's ``POST /v1/enhance`` from a bounded thread pool, PNG/NIfTI/DICOM bodies.

Pass criteria (issue 9): no crash of the ingest run or of a replica, no input taking > 5 s, every refusal typed
(ingest: a reason from medray.ingest.rejects.Reason; HTTP: 4xx with JSON {error, detail}; any 5xx fails), and the
valid inputs mixed in still processed (their slices in the shards; HTTP 200).

    .venv/bin/python benchmarks/fuzz_inputs.py [--n 10000] [--seed 0] [--batch 500] [--workers 4]

Writes benchmarks/results/fuzz_inputs.json and prints one summary line. The per-target functions
(``ingest_round``, ``http_round``, ``replica_names``) are reused by tests/test_fuzz_subset.py.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/fuzz_inputs.py` from the root

from benchmarks.fuzz_mutators import INGESTIBLE, Mutant, mutants  # noqa: E402

SLOW_S = 5.0
RESULTS = Path(__file__).parent / "results" / "fuzz_inputs.json"
VALID_PATIENT = "FUZZVALID{index:06d}"  # the PatientID given to each valid DICOM copy, to find its slices


# ---------------------------------------------------------------- (a) ingest

def _write_inputs(batch: list[Mutant], root: Path) -> dict[int, str]:
    """One folder per input (DICOM groups series by folder, so copies of one seed stay separate units).
    Returns {index: patient key} for the valid inputs (the NIfTI stem, or the PatientID given to the copy)."""
    import pydicom

    valid = {}
    for m in batch:
        folder = root / f"{m.index:06d}"
        folder.mkdir(parents=True)
        stem = f"{m.kind}_{m.index:06d}"
        data = m.data
        if m.valid and m.kind == "dicom":
            ds = pydicom.dcmread(_bytes_io(data))
            ds.PatientID = VALID_PATIENT.format(index=m.index)
            out = _bytes_io()
            ds.save_as(out, enforce_file_format=True)
            data = out.getvalue()
            valid[m.index] = ds.PatientID
        elif m.valid:
            valid[m.index] = stem
        (folder / f"{stem}{m.suffix}").write_bytes(data)
    return valid


def _bytes_io(data: bytes = b""):
    import io

    return io.BytesIO(data)


def ingest_round(batch: list[Mutant], work: Path, salt: str = "fuzz-salt") -> dict:
    """Ingest one folder of mutants; return counts and every violation found (lists of short strings)."""
    import pyarrow.parquet as pq

    from medray.ingest import layout
    from medray.ingest.deid import pseudonym
    from medray.ingest.rejects import Reason
    from medray.ingest.run import run_ingest

    inputs, out = work / "in", work / "out"
    shutil.rmtree(work, ignore_errors=True)
    valid = _write_inputs(batch, inputs)
    res = {"n": len(batch), "n_valid": len(valid), "crashes": [], "untyped": [], "slow": [], "valid_missing": [],
           "silently_dropped": [], "reasons": Counter()}
    t0 = time.perf_counter()
    try:
        summary = run_ingest([inputs], out, scales=(2,), seed=0, salt=salt, file_timeout_s=SLOW_S)
    except BaseException as e:  # noqa: BLE001 — a crash of the whole run is exactly what we count
        res["crashes"].append(f"run_ingest raised {type(e).__name__}: {str(e)[-600:]}")
        res["wall_s"] = time.perf_counter() - t0
        return res
    res["wall_s"] = time.perf_counter() - t0
    res["n_slices"] = summary.n_slices
    typed = {r.value for r in Reason}
    rejected = {}
    for line in (out / layout.REJECTS).read_text().splitlines():
        r = json.loads(line)
        idx = int(Path(r["path"]).parent.name)
        rejected[idx] = r["reason"]
        res["reasons"][r["reason"]] += 1
        if r.get("reason") not in typed or not isinstance(r.get("detail"), str):
            res["untyped"].append(f"#{idx}: {line[:200]}")
        if r["reason"] == Reason.TIMEOUT.value:
            res["slow"].append(f"#{idx}: timeout ({r['detail'][:100]})")
    files = layout.shard_files(out)
    patients = set()
    for f in files:
        patients.update(pq.read_table(f, columns=["patient_id"]).column("patient_id").to_pylist())
    for idx, key in valid.items():
        if pseudonym(salt, "patient", key) not in patients:
            res["valid_missing"].append(f"#{idx}: {rejected.get(idx, 'no slices, not rejected')}")
    for m in batch:  # a NIfTI's patient is its file stem: each is either in the shards or in rejects.jsonl
        if m.kind != "dicom" and m.index not in rejected and \
                pseudonym(salt, "patient", f"{m.kind}_{m.index:06d}") not in patients:
            res["silently_dropped"].append(f"#{m.index} {'+'.join(m.mutators)}")
    res["n_rejected"] = len(rejected)
    res["n_accepted_mutants"] = len(batch) - len(valid) - sum(1 for i in rejected if i not in valid)
    return res


# ---------------------------------------------------------------- (b) HTTP

def _cross_media(m: Mutant) -> str:
    """Every 17th mutant is sent with another format's Content-Type (a PNG posted as DICOM, ...)."""
    if m.valid or m.index % 17 != 3:
        return m.media_type
    others = ["application/dicom", "application/x-nifti", "application/gzip", "image/png"]
    others.remove(m.media_type)
    return others[m.index % 3]


def post_one(url: str, m: Mutant, headers: dict, patient_id: str | None, timeout_s: float = 60.0) -> dict:
    import requests

    media = _cross_media(m)
    params = {"patient_id": patient_id} if patient_id else {}
    t0 = time.perf_counter()
    try:
        r = requests.post(f"{url}/v1/enhance", params=params, data=m.data, timeout=timeout_s,
                          headers={**headers, "Content-Type": media})
    except Exception as e:  # noqa: BLE001 — connection reset / timeout: the replica or proxy failed
        return {"index": m.index, "status": None, "elapsed_s": time.perf_counter() - t0,
                "problem": f"no response: {type(e).__name__}"}
    out = {"index": m.index, "status": r.status_code, "elapsed_s": time.perf_counter() - t0, "problem": None}
    if r.status_code == 200:
        if m.valid and not (r.content and "X-Medray-Alpha" in r.headers):
            out["problem"] = "200 without a body or X-Medray-Alpha"
    elif 400 <= r.status_code < 500:
        try:
            body = r.json()
            ok = isinstance(body, dict) and set(body) == {"error", "detail"} and \
                all(isinstance(v, str) and v for v in body.values())
            out["error"] = body.get("error") if isinstance(body, dict) else None
        except ValueError:
            ok = False
        if not ok:
            out["problem"] = f"untyped {r.status_code}: {r.text[:200]}"
    else:
        out["problem"] = f"{r.status_code}: {r.text[:200]}"
    if m.valid and r.status_code != 200:
        out["problem"] = f"valid input refused: {r.status_code} {r.text[:200]}"
    return out


def http_round(url: str, batch: list[Mutant], headers: dict | None = None, workers: int = 4,
               patients: tuple[str | None, ...] = (None,), health_every: int = 250, timeout_s: float = 60.0) -> dict:
    """POST every mutant to /v1/enhance from ``workers`` threads; /healthz every ``health_every`` inputs."""
    import requests

    headers = headers or {}
    res = {"n": len(batch), "n_valid": sum(m.valid for m in batch), "status": Counter(), "errors": Counter(),
           "server_errors": [], "untyped": [], "slow": [], "valid_failed": [], "no_response": [],
           "health_failures": [], "elapsed": []}
    lock = threading.Lock()

    def one(m: Mutant):
        r = post_one(url, m, headers, patients[m.index % len(patients)], timeout_s)
        with lock:
            res["status"][str(r["status"])] += 1
            res["elapsed"].append(r["elapsed_s"])
            if r.get("error"):
                res["errors"][r["error"]] += 1
            if r["elapsed_s"] > SLOW_S:
                res["slow"].append(f"#{m.index} {'+'.join(m.mutators)}: {r['elapsed_s']:.1f} s")
            p = r["problem"]
            if p:
                tag = f"#{m.index} {m.kind} {'+'.join(m.mutators) or 'valid'}: {p}"
                key = ("valid_failed" if m.valid else "no_response" if r["status"] is None
                       else "server_errors" if r["status"] >= 500 else "untyped")
                res[key].append(tag)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(batch), health_every):
            list(pool.map(one, batch[start:start + health_every]))
            try:
                h = requests.get(f"{url}/healthz", timeout=10)
                if h.status_code != 200 or h.json().get("status") != "ok":
                    res["health_failures"].append(f"after {start + health_every}: {h.status_code}")
            except Exception as e:  # noqa: BLE001
                res["health_failures"].append(f"after {start + health_every}: {type(e).__name__}")
    res["wall_s"] = time.perf_counter() - t0
    lat = sorted(res.pop("elapsed"))
    if lat:
        res["latency_s"] = {"p50": lat[len(lat) // 2], "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                            "max": lat[-1]}
    return res


def replica_names() -> set[str]:
    """Names of the live Serve replica actors: a replica that crashed is replaced under a new name."""
    import ray

    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["name"].startswith("SERVE_REPLICA")}


def serve_healthy(app: str = "medray") -> list[str]:
    """Problems Serve itself reports: the app not RUNNING or a deployment not HEALTHY."""
    from ray import serve

    st = serve.status().applications.get(app)
    if st is None:
        return [f"app {app!r} missing"]
    bad = [] if st.status == "RUNNING" else [f"app {st.status}"]
    return bad + [f"{n}: {d.status} {d.replica_states}" for n, d in st.deployments.items() if d.status != "HEALTHY"]


# ---------------------------------------------------------------- standalone run

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(work: Path, bootstrap: str, max_voxels: int) -> str:
    """Deploy serve_apps/medray.yaml with a tiny seeded (untrained, saved) checkpoint and a fixed replica set
    (autoscaling off, so a replica missing afterwards means it died). ``max_voxels`` as in tests/test_serve_http.py:
    on a 2-core CPU one 2²⁰-voxel image already takes seconds through the model."""
    import torch

    from medray.models.checkpoint import save_checkpoint
    from medray.models.sr_generator import SRGeneratorConfig, build_generator
    from medray.serve.launch import apply_overrides, deploy, load_serve_config
    from medray.vitals.broker import ensure_topics

    torch.manual_seed(0)
    cfg = SRGeneratorConfig(in_channels=1, scale=2, width=8, depth=1)
    ckpt = save_checkpoint(work / "iotgan.pt", kind="iotgan", config=cfg, state_dict=build_generator(cfg).state_dict())
    ensure_topics(bootstrap, ["medray.vitals", "medray.vitals.dlq"])
    serve_cfg = apply_overrides(
        load_serve_config(Path(__file__).resolve().parents[1] / "serve_apps" / "medray.yaml"),
        checkpoint=ckpt, kafka=bootstrap, port=_free_port(), args={"max_body_mb": 4.0, "max_voxels": max_voxels, "vitals_group": "fuzz"},
        deployments={"Enhancer": {"num_replicas": 1, "autoscaling_config": None}},
    )
    serve_cfg["http_options"]["host"] = "127.0.0.1"
    return deploy(serve_cfg, timeout_s=300)


def _summary(res: dict) -> dict:
    """Totals over the ingest batches / the HTTP run, and the pass verdict."""
    ing = res["ingest"]["batches"]
    tot = {k: sum(len(b[k]) for b in ing) for k in ("crashes", "untyped", "slow", "valid_missing", "silently_dropped")}
    tot.update(n=sum(b["n"] for b in ing), n_valid=sum(b["n_valid"] for b in ing),
               reasons=dict(sum((Counter(b["reasons"]) for b in ing), Counter())))
    res["ingest"]["totals"] = tot
    h = res["http"]
    checks = {"ingest_crashes": tot["crashes"], "ingest_untyped": tot["untyped"], "ingest_slow": tot["slow"],
              "ingest_valid_missing": tot["valid_missing"], "ingest_silently_dropped": tot["silently_dropped"],
              "http_5xx": len(h["server_errors"]), "http_no_response": len(h["no_response"]),
              "http_untyped": len(h["untyped"]), "http_slow": len(h["slow"]),
              "http_valid_failed": len(h["valid_failed"]), "http_health_failures": len(h["health_failures"]),
              "replicas_lost": len(res["replicas"]["lost"]), "serve_unhealthy": len(res["replicas"]["unhealthy"])}
    res["checks"] = checks
    res["passed"] = not any(checks.values())
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="mutated inputs per target (ingest and HTTP each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=500, help="files per run_ingest call")
    ap.add_argument("--workers", type=int, default=4, help="HTTP client threads")
    ap.add_argument("--max-voxels", type=int, default=2**20, help="the app's declared-size limit")
    ap.add_argument("--timeout", type=float, default=30.0, help="HTTP client timeout per request (s)")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.WARNING)
    import ray
    from ray import serve

    from medray.vitals.broker import start_broker

    t0 = time.perf_counter()
    res = {"n_per_target": a.n, "seed": a.seed, "max_voxels": a.max_voxels, "http_timeout_s": a.timeout, "batch": a.batch, "workers": a.workers, "slow_s": SLOW_S,
           "ingest": {"batches": []}, "http": {"server_errors": [], "no_response": [], "untyped": [], "slow": [],
                                               "valid_failed": [], "health_failures": []},
           "replicas": {"before": [], "after": [], "lost": [], "unhealthy": []}}
    work = Path(tempfile.mkdtemp(prefix="medray-fuzz-"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    broker = None
    try:
        if not a.skip_ingest:  # before Serve takes its CPUs; ingest's decode tasks need a whole one each
            stream = list(mutants(a.n, seed=a.seed, kinds=("dicom", "nifti")))
            for start in range(0, a.n, a.batch):
                b = ingest_round(stream[start:start + a.batch], work / "ingest")
                b["reasons"] = dict(b["reasons"])
                res["ingest"]["batches"].append(b)
                print(f"ingest {min(start + a.batch, a.n)}/{a.n}: {b['wall_s']:.0f} s, "
                      f"{len(b['crashes'])} crash, {b.get('n_rejected', '?')} rejected", file=sys.stderr, flush=True)
            res["ingest"]["wall_s"] = sum(b["wall_s"] for b in res["ingest"]["batches"])
        if not a.skip_http:
            broker = start_broker()
            url = start_app(work, broker.bootstrap, a.max_voxels)
            before = replica_names()
            stream = list(mutants(a.n, seed=a.seed + 1, kinds=("dicom", "nifti", "png")))
            h = http_round(url, stream, workers=a.workers, patients=(None, "P-fuzz", "P-other"), timeout_s=a.timeout)
            h["status"], h["errors"] = dict(h["status"]), dict(h["errors"])
            after = replica_names()
            res["http"] = h
            res["replicas"] = {"before": sorted(before), "after": sorted(after), "lost": sorted(before - after),
                               "unhealthy": serve_healthy()}
    finally:
        if ray.is_initialized():
            try:
                serve.shutdown()
            finally:
                ray.shutdown()
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    res["wall_s"] = time.perf_counter() - t0
    if a.skip_ingest:
        res["ingest"]["batches"] = []
    res = _summary(res)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    it, h = res["ingest"]["totals"], res["http"]
    bad = ", ".join(f"{k}={v}" for k, v in res["checks"].items() if v) or "none"
    print(f"fuzz_inputs: ingest {it['n']} inputs ({it['n_valid']} valid) → {it['crashes']} crashes, "
          f"{it['slow']} > {SLOW_S:g} s, {it['untyped']} untyped, {it['valid_missing']} valid missing; "
          f"/v1/enhance {h.get('n', 0)} inputs → status {h.get('status', {})}, {len(h['server_errors'])} 5xx, "
          f"{len(h['slow'])} > {SLOW_S:g} s, p99 {h.get('latency_s', {}).get('p99', float('nan')):.3f} s, "
          f"replicas lost {len(res['replicas']['lost'])}; violations: {bad}; "
          f"{'PASS' if res['passed'] else 'FAIL'} in {res['wall_s']:.0f} s")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
