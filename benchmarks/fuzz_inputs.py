"""Fuzz medray's two front doors with mutated real scans (benchmarks/fuzz_mutators.py):

  (a) ingest: ``run_ingest`` over folders of ``--batch`` mutated DICOM/NIfTI files, valid files mixed in;
  (b) a running Serve app's ``POST /v1/enhance`` from a bounded thread pool, PNG/NIfTI/DICOM bodies.

Pass criteria (issue 9): no crash of the ingest run or of a replica, no input taking > 5 s, every refusal typed
(ingest: a reason from medray.ingest.rejects.Reason; HTTP: 4xx with JSON {error, detail}; any 5xx fails), and the
valid inputs mixed in still processed (their slices in the shards; HTTP 200).

    .venv/bin/python benchmarks/fuzz_inputs.py [--n 10000] [--seed 0] [--batch 500] [--workers 4]

Writes benchmarks/results/fuzz_inputs.json and prints one summary line. The checks live in
benchmarks/fuzz_checks.py (shared with tests/test_fuzz_subset.py).

``--bombs N`` runs issue 18's bomb classes instead (benchmarks/fuzz_bombs.py): N image bombs through ingest and
through /v1/enhance, one request at a time with the Serve replicas' peak RSS per request measured against a stated
bound (request body limit × 4 + inflate cap + 32 × max_voxels × 4 B + 64 MiB = 213 MiB for this app), and N
hostile vitals messages through parse_records and the app's consumer → dead letters. Pass: 0 crashes, 0 replica
deaths, every bomb a typed 4xx / ingest reject / dead letter, every request under the bound. Details and the bound:
benchmarks/fuzz_bomb_rounds.py. Writes benchmarks/results/fuzz_inputs_bombs.json.

    nice -n 10 .venv/bin/python benchmarks/fuzz_inputs.py --bombs 60
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/fuzz_inputs.py` from the root

from benchmarks.fuzz_checks import SLOW_S, http_round, ingest_round, replica_names, serve_healthy  # noqa: E402
from benchmarks.fuzz_mutators import mutants  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "fuzz_inputs.json"
BOMB_RESULTS = RESULTS.with_name("fuzz_inputs_bombs.json")
MAX_BODY_MB = 4.0


# ---------------------------------------------------------------- standalone run

@contextlib.contextmanager
def serving_app(work: Path, max_voxels: int):
    """The serving stack (embedded broker, the package's config) with a tiny seeded (untrained, saved)
    checkpoint and a fixed replica set (autoscaling off, so a replica missing afterwards means it died); yields
    the ``ServeStack`` (its url, its broker's bootstrap). ``max_voxels`` as in tests/test_serve_http.py: on a
    2-core CPU one 2²⁰-voxel image already takes seconds through the model."""
    import torch

    from medray.models.checkpoint import save_checkpoint
    from medray.models.sr_generator import SRGeneratorConfig, build_generator
    from medray.ports import free_port
    from medray.serve.stack import serving_stack

    torch.manual_seed(0)
    cfg = SRGeneratorConfig(in_channels=1, scale=2, width=8, depth=1)
    ckpt = save_checkpoint(work / "iotgan.pt", kind="iotgan", config=cfg, state_dict=build_generator(cfg).state_dict())
    with serving_stack(checkpoint=ckpt, port=free_port(), host="127.0.0.1",
                       args={"max_body_mb": MAX_BODY_MB, "max_voxels": max_voxels, "vitals_group": "fuzz", "insecure_dev": True},
                       deployments={"Enhancer": {"num_replicas": 1, "autoscaling_config": None}}) as stack:
        yield stack


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
    ap.add_argument("--bombs", type=int, default=0, help="run N of issue 18's bombs per target instead (see above)")
    ap.add_argument("--out", type=Path, default=None, help="default: results/fuzz_inputs.json (_bombs.json)")
    a = ap.parse_args(argv)
    a.out = a.out or (BOMB_RESULTS if a.bombs else RESULTS)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.WARNING)
    import ray

    if a.bombs:
        return bomb_main(a)
    t0 = time.perf_counter()
    res = {"n_per_target": a.n, "seed": a.seed, "max_voxels": a.max_voxels, "http_timeout_s": a.timeout, "batch": a.batch, "workers": a.workers, "slow_s": SLOW_S,
           "ingest": {"batches": []}, "http": {"server_errors": [], "no_response": [], "untyped": [], "slow": [],
                                               "valid_failed": [], "health_failures": []},
           "replicas": {"before": [], "after": [], "lost": [], "unhealthy": []}}
    work = Path(tempfile.mkdtemp(prefix="medray-fuzz-"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
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
            with serving_app(work, a.max_voxels) as stack:
                url = stack.url
                before = replica_names()
                stream = list(mutants(a.n, seed=a.seed + 1, kinds=("dicom", "nifti", "png")))
                h = http_round(url, stream, workers=a.workers, patients=(None, "P-fuzz", "P-other"),
                               timeout_s=a.timeout)
                h["status"], h["errors"] = dict(h["status"]), dict(h["errors"])
                after = replica_names()
                res["http"] = h
                res["replicas"] = {"before": sorted(before), "after": sorted(after), "lost": sorted(before - after),
                                   "unhealthy": serve_healthy()}
    finally:
        ray.shutdown()
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


def bomb_main(a) -> int:
    """The ``--bombs`` run: (a) ingest, (b) /v1/enhance with peak RSS per request, (c) vitals; one JSON."""
    import ray

    from benchmarks.fuzz_bomb_rounds import VALID_EVERY, http_bombs, ingest_bombs, parse_bombs, stream_bombs
    from benchmarks.fuzz_bombs import INGEST_BOMBS, bomb, vitals_bombs
    from benchmarks.fuzz_seeds import Mutant, load_seeds

    t0 = time.perf_counter()
    res = {"n_bombs": a.bombs, "seed": a.seed, "max_voxels": a.max_voxels, "max_body_mb": MAX_BODY_MB,
           "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
                       "note": "2 cores shared with ~5 other engineers' builds/tests: wall times are contended"}}
    work = Path(tempfile.mkdtemp(prefix="medray-bombs-"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    seeds = load_seeds()
    try:
        if not a.skip_ingest:  # bombs with a valid scan every VALID_EVERY-th (the valid ones must reach the shards)
            batch = [bomb(i, a.seed, INGEST_BOMBS) if i % VALID_EVERY else
                     Mutant(i, s.name, s.kind, (), s.data) for i in range(a.bombs)
                     for s in [[x for x in seeds if x.kind != "png"][(i // VALID_EVERY) % 3]]]
            res["ingest"] = ingest_bombs(batch, work / "ingest")
            print(f"ingest: {res['ingest']['wall_s']:.0f} s", file=sys.stderr, flush=True)
        if not a.skip_http:
            with serving_app(work, a.max_voxels) as stack:
                before = replica_names()
                stream = [bomb(i, a.seed) if i % VALID_EVERY else
                          Mutant(i, s.name, s.kind, (), s.data) for i in range(a.bombs)
                          for s in [seeds[(i // VALID_EVERY) % len(seeds)]]]
                res["http"] = http_bombs(stack.url, stream, int(MAX_BODY_MB * 2**20), a.max_voxels, a.timeout)
                print(f"http: {len(stream)} requests", file=sys.stderr, flush=True)
                hostile = vitals_bombs(a.bombs, a.seed)
                res["vitals"] = {"parse_records": parse_bombs(hostile),
                                 "consumer": stream_bombs(stack.url, stack.bootstrap, hostile),
                                 "variants": dict(Counter(f"{b.cls}:{b.what}" for b in hostile))}
                after = replica_names()
                res["replicas"] = {"before": sorted(before), "after": sorted(after), "lost": sorted(before - after),
                                   "unhealthy": serve_healthy()}
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    ing, h, v = res.get("ingest", {}), res.get("http", {}), res.get("vitals", {})
    checks = {"ingest_crashes": len(ing.get("crashes", [])), "ingest_untyped": len(ing.get("untyped", [])),
              "ingest_bombs_accepted": len(ing.get("bombs_accepted", [])),
              "ingest_valid_missing": len(ing.get("valid_missing", [])),
              "ingest_over_bound": int(ing.get("max_process_growth_mib", 0) > ing.get("bound_mib", 1e9)),
              "http_problems": len(h.get("problems", [])), "http_over_bound": len(h.get("over_bound", [])),
              "vitals_parse_crash": int(bool(v.get("parse_records", {}).get("crash"))),
              "vitals_parsed_as_readings": v.get("parse_records", {}).get("parsed_as_readings", 0),
              "vitals_consumer_problems": len(v.get("consumer", {}).get("problems", [])),
              "vitals_dlq_raw_keys": v.get("consumer", {}).get("dlq_with_raw_key", 0),
              "replicas_lost": len(res.get("replicas", {}).get("lost", [])),
              "serve_unhealthy": len(res.get("replicas", {}).get("unhealthy", []))}
    res["checks"], res["passed"] = checks, not any(checks.values())
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    bad = ", ".join(f"{k}={x}" for k, x in checks.items() if x) or "none"
    per = {c: d["n"] for c, d in h.get("per_class", {}).items()}
    print(f"fuzz_inputs --bombs: ingest {len(ing.get('per_class', {}))} classes, {ing.get('n', 0)} files → "
          f"{len(ing.get('crashes', []))} crashes, {len(ing.get('bombs_accepted', []))} bombs accepted, growth max "
          f"{ing.get('max_process_growth_mib', 0)} MiB (bound {ing.get('bound_mib')}); /v1/enhance {per} → peak RSS "
          f"per request max +{h.get('max_replica_growth_mib')} MiB in a replica (bound {h.get('bound_mib')} MiB), "
          f"{len(h.get('problems', []))} untyped/5xx; vitals {v.get('consumer', {}).get('dead_lettered')} of "
          f"{a.bombs} dead-lettered; replicas lost {checks['replicas_lost']}; violations: {bad}; "
          f"{'PASS' if res['passed'] else 'FAIL'} in {res['wall_s']:.0f} s "
          f"(load {res['machine']['loadavg_start'][0]:.1f} on {res['machine']['cpus']} cores)")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
