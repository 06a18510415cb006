"""The bomb phase of benchmarks/fuzz_inputs.py (``--bombs N``, issue 18): the classes of benchmarks/fuzz_bombs.py
through (a) ingest, (b) a running Serve app's ``POST /v1/enhance`` and (c) the vitals path, with the memory each
costs measured on the processes that handle it.

Peak RSS per request (b): requests go one at a time, a valid input every ``VALID_EVERY``-th. Before each, every
Serve actor process (replicas: ingress, Enhancer, vitals shards; and the HTTP proxy) has its peak mark reset
(``5`` written to ``/proc/<pid>/clear_refs`` sets VmHWM to the current VmRSS); after it, VmHWM is read. The
request's cost in a process is ``VmHWM after − VmRSS before``; a 5 ms VmRSS sampler runs alongside as a
cross-check (and is the measure where clear_refs cannot be written). Replica PIDs come from
``ray.util.state.list_actors`` (Serve names its replica actors ``SERVE_REPLICA::…``) when a dashboard runs, else
from the titles Ray gives the actor workers (``ray::ServeReplica:<app>:<deployment>``; this benchmark's Ray has none).

The bound, per request and replica process, is what a request the app *accepts* may hold:
``BODY_COPIES × max_body_bytes`` (the body in the ingress, its copy to the Enhancer, the codec's parse buffer, the
response) + the serve inflate cap ``max_voxels × 4 + HEADER_SLACK`` + ``WORKING_SET_FACTOR × max_voxels × 4 B``
(the decoded float32 input and the model's feature maps) + ``ALLOCATOR_SLACK``. With the benchmark's app
(4 MiB bodies, 2²⁰ voxels) that is 213 MiB; the bombs of issue 18 took 512 MiB to 31 GiB before the fixes.

(a) ingest: the bombs written as files among valid scans, one ``run_ingest``; every bomb must be a typed reject, the
valid scans must reach the shards; the growth of the driver (VmHWM reset at the start) and of every Ray worker
(VmRSS sampled every 50 ms, over its first sample: a worker started during the round counts whole) must stay below
``MAX_INFLATED_BYTES + INGEST_WORKING_SET`` = 512 MiB: a refused deflate bomb holds at most the inflate cap.

(c) vitals: ``parse_records`` in process, then every bomb produced to the app's vitals topic between two valid
readings of a canary patient: each must be dead-lettered (a typed reason, no raw key), the canary's second reading
must be applied after them (the stream goes on), and no replica may die.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

MIB = 1 << 20
VALID_EVERY = 7  # every 7th request is a valid seed: the service must keep answering while it refuses
BODY_COPIES = 4
WORKING_SET_FACTOR = 32
ALLOCATOR_SLACK = 64 * MIB
INGEST_WORKING_SET = 256 * MIB  # one series decoded, padded to a square (≤ 4096²) and resized, plus the libraries


def request_bound(max_body_bytes: int, max_voxels: int) -> int:
    from medray.imaging.dicom_bounds import HEADER_SLACK

    return (BODY_COPIES * max_body_bytes + max_voxels * 4 + HEADER_SLACK + WORKING_SET_FACTOR * max_voxels * 4
            + ALLOCATOR_SLACK)


def ingest_bound() -> int:
    from medray.imaging.dicom import MAX_INFLATED_BYTES

    return MAX_INFLATED_BYTES + INGEST_WORKING_SET


# ---------------------------------------------------------------- /proc

def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Sampler:
    """VmRSS of ``pids()`` every ``every_s`` in a thread: the first and the highest value seen per PID."""

    def __init__(self, pids, every_s: float):
        self.pids, self.every_s, self.first, self.peak = pids, every_s, {}, {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for p in self.pids():
                rss = _status(p).get("VmRSS")
                if rss is not None:
                    self.first.setdefault(p, rss)
                    self.peak[p] = max(self.peak.get(p, 0), rss)
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def serve_processes() -> tuple[dict[int, str], str]:
    """({pid: actor name} of the live Serve replica and proxy actors, how they were found): Ray's state API
    (needs the dashboard); without it, the titles Ray gives its actor workers (``ray::ServeReplica:…``)."""
    try:
        from ray.util.state import list_actors

        found = {int(a.pid): a.name for a in list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
                 if a.name and a.name.startswith(("SERVE_REPLICA", "SERVE_PROXY")) and a.pid}
        if found:
            return found, "ray.util.state.list_actors"
    except Exception:  # noqa: BLE001 — no dashboard in this Ray session: fall back to the process titles
        pass
    from medray.serve.stack import _title, serve_pids

    names = {"ray::ServeReplica": "SERVE_REPLICA", "ray::ProxyActor": "SERVE_PROXY"}
    found = {}
    for pid in serve_pids():
        title = _title(pid).split()[0]
        for prefix, name in names.items():
            if title.startswith(prefix):
                found[pid] = f"{name} {title} pid {pid}"
    return found, "process titles (ray::ServeReplica / ray::ProxyActor)"


class Descendants:
    """This process and its descendants, the list refreshed at most once a second (walking /proc costs CPU)."""

    def __init__(self):
        self.at, self.pids = 0.0, [os.getpid()]

    def __call__(self) -> list[int]:
        if time.monotonic() - self.at > 1.0:
            from medray.serve.stack import descendants

            self.at, self.pids = time.monotonic(), [os.getpid(), *descendants(os.getpid())]
        return self.pids


# ---------------------------------------------------------------- (b) HTTP, one request at a time

def _post(url: str, m, timeout_s: float) -> tuple[int | None, str | None, str | None]:
    """→ (status, typed error name, problem). Bombs go with their own media type (no cross-media here)."""
    import requests

    try:
        r = requests.post(f"{url}/v1/enhance", data=m.data, timeout=timeout_s,
                          headers={"Content-Type": m.media_type})
    except Exception as e:  # noqa: BLE001 — a reset/timeout is a failed replica or proxy: counted
        return None, None, f"no response: {type(e).__name__}"
    if r.status_code == 200:
        ok = m.valid and r.content and "X-Medray-Alpha" in r.headers
        return 200, None, None if ok else "200 for a bomb" if not m.valid else "200 without body/alpha"
    try:
        body = r.json()
        typed = isinstance(body, dict) and set(body) == {"error", "detail"} and all(
            isinstance(v, str) and v for v in body.values())
    except ValueError:
        body, typed = None, False
    if not 400 <= r.status_code < 500 or not typed or m.valid:
        return r.status_code, None, f"{r.status_code}: {r.text[:200]}"
    return r.status_code, body["error"], None


def http_bombs(url: str, stream: list, max_body_bytes: int, max_voxels: int, timeout_s: float) -> dict:
    bound = request_bound(max_body_bytes, max_voxels)
    procs, how = serve_processes()
    res = {"bound_bytes": bound, "bound_mib": round(bound / MIB, 1), "processes": sorted(set(procs.values())),
           "processes_found_by": how,
           "per_class": {}, "problems": [], "over_bound": [], "peak_method": "VmHWM after clear_refs"}
    for m in stream:
        cls = m.mutators[0] if m.mutators else "valid"
        before, reset = {}, True
        for p in procs:
            reset &= _reset_peak(p)
            before[p] = _status(p).get("VmRSS", 0)
        with Sampler(lambda: list(procs), 0.005) as s:
            t0 = time.perf_counter()
            status, err, problem = _post(url, m, timeout_s)
            wall = time.perf_counter() - t0
        growth = {}
        for p, name in procs.items():
            hwm = _status(p).get("VmHWM", 0) if reset else 0
            growth[name] = max(hwm, s.peak.get(p, 0)) - before[p]
        if not reset:
            res["peak_method"] = "VmRSS sampled every 5 ms (clear_refs not writable)"
        worst_name = max(growth, key=growth.get)
        replica_worst = max((g for n, g in growth.items() if n.startswith("SERVE_REPLICA")), default=0)
        c = res["per_class"].setdefault(cls, {"n": 0, "status": Counter(), "errors": Counter(), "variants": Counter(),
                                              "max_replica_growth_mib": 0.0, "max_proxy_growth_mib": 0.0,
                                              "max_s": 0.0})
        c["n"] += 1
        c["status"][str(status)] += 1
        c["variants"][m.mutators[1] if m.mutators else m.seed] += 1
        if err:
            c["errors"][err] += 1
        c["max_replica_growth_mib"] = max(c["max_replica_growth_mib"], round(replica_worst / MIB, 1))
        c["max_proxy_growth_mib"] = max(c["max_proxy_growth_mib"], round(
            max((g for n, g in growth.items() if n.startswith("SERVE_PROXY")), default=0) / MIB, 1))
        c["max_s"] = max(c["max_s"], round(wall, 3))
        tag = f"#{m.index} {cls} {m.mutators[1] if m.mutators else m.seed}"
        if problem:
            res["problems"].append(f"{tag}: {problem}")
        if replica_worst > bound:
            res["over_bound"].append(f"{tag}: {worst_name} +{growth[worst_name] / MIB:.0f} MiB")
    for c in res["per_class"].values():
        c["status"], c["errors"], c["variants"] = dict(c["status"]), dict(c["errors"]), dict(c["variants"])
    res["max_replica_growth_mib"] = max((c["max_replica_growth_mib"] for c in res["per_class"].values()), default=0)
    res["max_proxy_growth_mib"] = max((c["max_proxy_growth_mib"] for c in res["per_class"].values()), default=0)
    res["replica_vmrss_after_mib"] = {n: round(_status(p).get("VmRSS", 0) / MIB, 1) for p, n in procs.items()}
    return res


# ---------------------------------------------------------------- (a) ingest

def ingest_bombs(batch: list, work: Path) -> dict:
    """``ingest_round`` over bombs + valid scans, the reject reason of every bomb, and the processes' growth."""
    from benchmarks.fuzz_checks import ingest_round
    from medray.ingest.rejects import path_pseudonym
    from medray.shards import layout

    me = os.getpid()
    _reset_peak(me)
    with Sampler(Descendants(), 0.05) as s:
        res = ingest_round(batch, work)
    res["reasons"] = dict(res["reasons"])
    by_index = {m.index: m for m in batch}
    folder_of = {path_pseudonym("fuzz-salt", f): int(f.parent.name) for f in (work / "in").rglob("*.*")}
    per_class: dict[str, Counter] = {}
    refused = set()
    rejects = work / "out" / layout.REJECTS
    for line in (rejects.read_text().splitlines() if rejects.exists() else []):
        r = json.loads(line)
        m = by_index[folder_of[r["path"]]]
        if not m.valid:
            per_class.setdefault(m.mutators[0], Counter())[r["reason"]] += 1
            refused.add(m.index)
    res["per_class"] = {k: dict(v) for k, v in sorted(per_class.items())}
    res["bombs_accepted"] = [f"#{m.index} {'/'.join(m.mutators)}" for m in batch
                             if not m.valid and m.index not in refused]
    growth = {p: s.peak[p] - s.first[p] for p in s.peak}
    growth[me] = max(_status(me).get("VmHWM", 0), s.peak.get(me, 0)) - s.first.get(me, 0)
    res["driver_growth_mib"] = round(growth[me] / MIB, 1)
    res["max_process_growth_mib"] = round(max(growth.values(), default=0) / MIB, 1)
    res["max_process_rss_mib"] = round(max(s.peak.values(), default=0) / MIB, 1)
    res["bound_mib"] = round(ingest_bound() / MIB, 1)
    return res


# ---------------------------------------------------------------- (c) vitals

def parse_bombs(hostile: list) -> dict:
    """The pure parser: every bomb a typed error, none a reading, none raising."""
    from collections import namedtuple

    from medray.vitals.schema import parse_records

    rec = namedtuple("rec", "key value")
    t0 = time.perf_counter()
    try:
        good, bad = parse_records([rec(b.key, b.value) for b in hostile], time.time() + 300)
    except BaseException as e:  # noqa: BLE001 — what issue 18 found (RecursionError): counted as a crash
        return {"n": len(hostile), "crash": f"{type(e).__name__}: {str(e)[:200]}"}
    reasons = Counter(e.reason for _, e in bad)
    return {"n": len(hostile), "crash": None, "parsed_as_readings": len(good), "dead_letter_reasons": dict(reasons),
            "untyped": sum(1 for _, e in bad if not e.reason), "wall_s": round(time.perf_counter() - t0, 3)}


def stream_bombs(url: str, bootstrap: str, hostile: list, timeout_s: float = 180.0) -> dict:
    """Produce the bombs to the app's vitals topic between two readings of a canary patient; wait until the
    consumer dead-letters them all and applies the canary's second reading."""
    import requests
    from datetime import datetime, timedelta, timezone
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from medray.vitals.schema import DLQ_TOPIC, VITALS_TOPIC, encode_message, make_reading

    def stats():
        return requests.get(f"{url}/healthz", timeout=10).json()["vitals"]

    def canary_ts():
        r = requests.get(f"{url}/v1/vitals/P-canary", timeout=10)
        return r.json().get("ts") if r.status_code == 200 else None

    def wait(cond, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if cond():
                return None
            time.sleep(0.25)
        return f"timed out after {timeout_s:.0f} s waiting for {what}"

    now = datetime.now(timezone.utc)
    first, second = (make_reading("P-canary", now - timedelta(seconds=s), 72, 98, 36.8, 0.2) for s in (10, 5))
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=4 * MIB)
    k, v = encode_message(first)
    res = {"n": len(hostile), "problems": []}

    def first_seen():  # re-sent until seen: the consumer may join its group after the first send
        p.send(VITALS_TOPIC, key=k, value=v)
        p.flush()
        time.sleep(1.0)
        return canary_ts() is not None

    problem = wait(first_seen, "the first canary reading")
    ts1, dl0 = canary_ts(), stats()["dead_lettered"]
    for b in hostile:
        p.send(VITALS_TOPIC, key=b.key, value=b.value)
    k, v = encode_message(second)
    p.send(VITALS_TOPIC, key=k, value=v)
    p.flush()
    p.close()
    t0 = time.perf_counter()
    problem = problem or wait(lambda: stats()["dead_lettered"] - dl0 >= len(hostile) and canary_ts() != ts1,
                              "every bomb dead-lettered and the canary's second reading applied")
    res["wall_s"] = round(time.perf_counter() - t0, 2)
    if problem:
        res["problems"].append(problem)
    st = stats()
    res["dead_lettered"] = st["dead_lettered"] - dl0
    res["consumer_errors"] = st["errors"]
    res["canary_latest_ts"] = canary_ts()
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    c.assign([TopicPartition(DLQ_TOPIC, q) for q in sorted(c.partitions_for_topic(DLQ_TOPIC) or [])])
    c.seek_to_beginning()
    letters, deadline = [], time.monotonic() + 20
    while len(letters) < len(hostile) and time.monotonic() < deadline:
        for msgs in c.poll(200).values():
            letters.extend(msgs)
    c.close()
    reasons = Counter(json.loads(m.value).get("reason") for m in letters)
    res["dlq_letters"] = len(letters)
    res["dlq_reasons"] = dict(reasons)
    res["dlq_with_raw_key"] = sum(1 for m in letters for b in {h.key for h in hostile} if b in m.value or b == m.key)
    if res["dead_lettered"] != len(hostile):
        res["problems"].append(f"{res['dead_lettered']} dead-lettered of {len(hostile)}")
    for pid in sorted({b.key.decode() for b in hostile}):  # these patients got bombs only: nothing to apply
        r = requests.get(f"{url}/v1/vitals/{pid}", timeout=10)
        if r.status_code != 404:
            res["problems"].append(f"{pid}: {r.status_code} {r.text[:120]} (a bomb was applied?)")
    return res
