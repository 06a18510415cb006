"""The checks of the fuzzing runs, shared by benchmarks/fuzz_inputs.py and tests/test_fuzz_subset.py.

``ingest_round``: ``run_ingest`` over a folder of mutants (one sub-folder each, valid files mixed in) → crashes,
untyped rejects, per-file timeouts (> SLOW_S), valid inputs without slices, NIfTI files neither ingested nor
rejected. ``http_round``: POST each mutant to ``/v1/enhance`` from a bounded thread pool → 5xx, no response,
4xx without a JSON {error, detail}, > SLOW_S, valid inputs not answered 200, /healthz failures.
``replica_names``/``serve_healthy``: whether a Serve replica died (it comes back under a new name).
"""
from __future__ import annotations

import io
import json
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.fuzz_mutators import Mutant

SLOW_S = 5.0
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
    return io.BytesIO(data)


def ingest_round(batch: list[Mutant], work: Path, salt: str = "fuzz-salt") -> dict:
    """Ingest one folder of mutants; return counts and every violation found (lists of short strings)."""
    import pyarrow.parquet as pq

    from medray.shards import layout
    from medray.ingest.deid import pseudonym
    from medray.ingest.rejects import Reason, path_pseudonym
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
    folder_of = {path_pseudonym(salt, f): int(f.parent.name) for f in inputs.rglob("*") if f.parent != inputs}
    for line in (out / layout.REJECTS).read_text().splitlines():
        r = json.loads(line)
        idx = folder_of[r["path"]]  # rejects.jsonl holds keyed path pseudonyms: map back through the salt
        rejected[idx] = r["reason"]
        res["reasons"][r["reason"]] += 1
        if r.get("reason") not in typed or not isinstance(r.get("detail"), str):
            res["untyped"].append(f"#{idx}: {line[:200]}")
        if r["reason"] == Reason.TIMEOUT.value:
            res["slow"].append(f"#{idx}: timeout ({r['detail'][:100]})")
    files = layout.shard_files(out, missing_ok=True)
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


OVERLOAD_RETRIES = 10  # 503 overloaded answers retried (after Retry-After) before the input counts as refused


def post_one(url: str, m: Mutant, headers: dict, patient_id: str | None, timeout_s: float = 60.0) -> dict:
    import requests

    media = _cross_media(m)
    params = {"patient_id": patient_id} if patient_id else {}
    retries = 0
    while True:
        t0 = time.perf_counter()
        try:
            r = requests.post(f"{url}/v1/enhance", params=params, data=m.data, timeout=timeout_s,
                              headers={**headers, "Content-Type": media})
        except Exception as e:  # noqa: BLE001 — connection reset / timeout: the replica or proxy failed
            return {"index": m.index, "status": None, "elapsed_s": time.perf_counter() - t0,
                    "problem": f"no response: {type(e).__name__}"}
        # 503 + Retry-After is the service's typed backpressure: a client waits and retries, as any caller
        # should. Only a bounded number of times: a service that never drains is still a failure.
        if r.status_code != 503 or "Retry-After" not in r.headers or retries >= OVERLOAD_RETRIES:
            break
        retries += 1
        time.sleep(min(float(r.headers["Retry-After"]), 2.0))
    out = {"index": m.index, "status": r.status_code, "elapsed_s": time.perf_counter() - t0, "problem": None,
           "overload_retries": retries}
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
           "health_failures": [], "elapsed": [], "overload_retries": 0}
    lock = threading.Lock()

    def one(m: Mutant):
        r = post_one(url, m, headers, patients[m.index % len(patients)], timeout_s)
        with lock:
            res["status"][str(r["status"])] += 1
            res["elapsed"].append(r["elapsed_s"])
            res["overload_retries"] += r.get("overload_retries", 0)
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
