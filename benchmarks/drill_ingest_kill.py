"""Drill: ``medray ingest`` SIGKILLed mid-run and run again gives exactly what an uninterrupted run gives.

    .venv/bin/python benchmarks/drill_ingest_kill.py                       # demo data, 3 patients
    .venv/bin/python benchmarks/drill_ingest_kill.py --patients 2 --out /tmp/i.json

1. ``medray demo-data`` builds a small corpus; ``medray ingest`` runs once uninterrupted (the reference).
2. ``medray ingest`` into a second folder, SIGKILLed (its whole process group: the driver and the Ray it
   started) as soon as the first shard file appears, i.e. mid-write; then the same command again, to the end.
3. Both outputs are compared: row count, and a content hash over every row (all columns, rows sorted by series
   and slice), so a duplicated, lost or altered slice changes it.

Writes benchmarks/results/drill_ingest_kill.json and prints one line. The machine is shared (load recorded).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "drill_ingest_kill.json"
MEDRAY = [str(Path(sys.executable).parent / "medray")]


def content(out: Path) -> tuple[int, str, int]:
    """(rows, sha256 over all rows sorted by series and slice, files) of an ingest output."""
    import pyarrow.parquet as pq

    from medray.shards import layout

    files = layout.shard_files(layout.shards_dir(out), missing_ok=True)
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    rows.sort(key=lambda r: (r["series_id"], r["slice_index"]))
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, default=lambda v: v.hex() if isinstance(v, bytes) else str(v)).encode())
    return len(rows), h.hexdigest(), len(files)


def _try_content(out: Path):
    try:  # a file cut off mid-write may not parse: that is the point of the drill
        return content(out)
    except Exception as e:  # noqa: BLE001
        return f"unreadable: {type(e).__name__}"


def ingest(data: Path, out: Path, env: dict, kill_on_first_shard: bool = False, timeout_s: float = 900) -> dict:
    from medray.serve.stack import descendants
    from medray.shards import layout

    cmd = MEDRAY + ["ingest", str(data), "--out", str(out), "--scales", "2"]
    t0 = time.time()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)  # its own group: the kill takes the Ray it started with it
    killed = False
    deadline = time.monotonic() + timeout_s
    while p.poll() is None and time.monotonic() < deadline:
        if kill_on_first_shard and layout.shard_files(layout.shards_dir(out), missing_ok=True):
            family = descendants(p.pid)  # Ray's node processes may sit in sessions of their own
            os.killpg(p.pid, signal.SIGKILL)
            for pid in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    if p.poll() is None and not killed:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait(60)
    err = p.stderr.read()[-1500:]
    return {"rc": p.returncode, "killed": killed, "wall_s": time.time() - t0,
            "partial": _try_content(out) if killed else None, "stderr_tail": None if p.returncode == 0 else err}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()

    load0, t0 = os.getloadavg(), time.time()
    work = Path(tempfile.mkdtemp(prefix="medray-drill-ingest-"))
    env = {**os.environ, "MEDRAY_SALT": "drill-salt-0123456789abcdef"}
    try:
        data = work / "data"
        subprocess.run(MEDRAY + ["demo-data", "--out", str(data), "--patients", str(a.patients)], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        reference = ingest(data, work / "ref", env)
        killed = ingest(data, work / "run", env, kill_on_first_shard=True)
        rerun = ingest(data, work / "run", env)
        ref, got = content(work / "ref"), content(work / "run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "drill": "ingest killed mid-run and rerun", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
                    "note": "shared with other engineers and background training runs: contended"},
        "config": {"patients": a.patients, "out": str(a.out)},
        "reference": {**reference, "rows": ref[0], "sha256": ref[1], "files": ref[2]},
        "killed_run": killed, "rerun": {**rerun, "rows": got[0], "sha256": got[1], "files": got[2]},
        "rows_equal": ref[0] == got[0], "hash_equal": ref[1] == got[1], "wall_s": time.time() - t0,
    }
    result["pass"] = (reference["rc"] == 0 and killed["killed"] and rerun["rc"] == 0 and result["rows_equal"]
                      and result["hash_equal"] and ref[0] > 0)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    part = killed["partial"]
    print(f"drill_ingest_kill {'PASS' if result['pass'] else 'FAIL'}: reference {ref[0]} rows (rc {reference['rc']}); killed at the first shard file "
          f"({part[0] if isinstance(part, tuple) else part} rows written), rerun {got[0]} rows; rows equal {result['rows_equal']}, "
          f"content hash equal {result['hash_equal']}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus "
          f"-> {a.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
