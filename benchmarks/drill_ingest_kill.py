"""Drill: ``medray ingest`` SIGKILLed mid-run and run again gives exactly what an uninterrupted run gives.

    .venv/bin/python benchmarks/drill_ingest_kill.py                       # demo data, 3 patients
    .venv/bin/python benchmarks/drill_ingest_kill.py --patients 2 --out /tmp/i.json

1. ``medray demo-data`` builds a small corpus; ``medray ingest`` runs once uninterrupted (the reference).
2. ``medray ingest`` into a second folder, SIGKILLed (its whole process group: the driver and the Ray it
   started) ``--kill-fraction`` of the reference's decode/write stage after that stage starts (Ray Data's
   "Starting execution" log line), i.e. mid-write; what a reader then finds there is recorded (manifest present?
   readable rows?): the kill landed mid-run when the manifest, written last, is absent and fewer rows than the
   reference are readable. Then the same command again, to the end.
3. Both outputs are compared: row count, and a content hash over every row (all columns, rows sorted by series
   and slice), so a duplicated, lost or altered slice changes it.

Why a rerun cannot duplicate: ``run_ingest`` deletes the folder's previous shard files before writing, and Ray
Data's file names carry a per-write uuid; measured here, a kill in the decode/write stage leaves no shard file at all
(Ray Data writes the files as the stage completes), and the rerun equals the reference row for row.

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
import threading
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


EXEC_START = "Starting execution of Dataset"  # Ray Data's log line when the decode/write stage begins


def _snapshot(out: Path) -> dict:
    """What a reader would find in ``out`` right now: the manifest (written last) and the readable shard rows."""
    from medray.shards import layout

    got = _try_content(out)
    return {"manifest": (out / layout.MANIFEST).is_file(), "files_on_disk": len(list(out.rglob("*.parquet"))),
            "rows_readable": got[0] if isinstance(got, tuple) else got}


def ingest(data: Path, out: Path, env: dict, kill_after_exec_s: float | None = None, timeout_s: float = 900) -> dict:
    """One ``medray ingest`` run. ``kill_after_exec_s``: SIGKILL its process group (and every descendant, since
    Ray's node processes may sit in sessions of their own) that many seconds after Ray Data logs the start of the
    decode/write stage, i.e. while slices are being decoded and written."""
    from medray.serve.stack import descendants

    cmd = MEDRAY + ["ingest", str(data), "--out", str(out), "--scales", "2"]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)  # its own group: the kill takes the Ray it started with it
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: [lines.append((time.monotonic() - t0, ln)) for ln in p.stderr],
                              daemon=True)
    reader.start()

    def exec_started() -> float | None:
        return next((t for t, ln in list(lines) if EXEC_START in ln), None)

    killed, at_kill, t_kill = False, None, None
    deadline = t0 + timeout_s
    while p.poll() is None and time.monotonic() < deadline:
        te = exec_started()
        if kill_after_exec_s is not None and te is not None and time.monotonic() - t0 >= te + kill_after_exec_s:
            family = descendants(p.pid)
            os.killpg(p.pid, signal.SIGKILL)
            for pid in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            t_kill, killed = time.monotonic() - t0, True
            break
        time.sleep(0.05)
    if p.poll() is None and not killed:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait(60)
    reader.join(10)
    if killed:
        time.sleep(1.0)  # let the killed processes' last writes (if any) settle before looking
        at_kill = _snapshot(out)
    te = exec_started()
    return {"rc": p.returncode, "killed": killed, "wall_s": time.monotonic() - t0, "exec_start_s": te,
            "exec_s": None if killed or te is None else time.monotonic() - t0 - te, "kill_at_s": t_kill,
            "after_kill": at_kill,
            "stderr_tail": None if p.returncode == 0 else "".join(ln for _, ln in lines)[-1500:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=3)
    ap.add_argument("--kill-fraction", type=float, default=0.5,
                    help="kill this fraction of the reference's decode/write stage after it starts")
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
        exec_s = reference["exec_s"] if reference["exec_s"] is not None else reference["wall_s"] / 2
        killed = ingest(data, work / "run", env, kill_after_exec_s=a.kill_fraction * exec_s)
        rerun = ingest(data, work / "run", env)
        ref, got = content(work / "ref"), content(work / "run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "drill": "ingest killed mid-run and rerun", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
                    "note": "shared with other engineers and background training runs: contended"},
        "config": {"patients": a.patients, "kill_fraction": a.kill_fraction, "out": str(a.out)},
        "reference": {**reference, "rows": ref[0], "sha256": ref[1], "files": ref[2]},
        "killed_run": killed, "rerun": {**rerun, "rows": got[0], "sha256": got[1], "files": got[2]},
        "rows_equal": ref[0] == got[0], "hash_equal": ref[1] == got[1], "wall_s": time.time() - t0,
    }
    after = killed["after_kill"] or {}
    rows_then = after.get("rows_readable")
    result["kill_landed_mid_run"] = bool(killed["killed"] and killed["rc"] != 0 and not after.get("manifest")
                                         and isinstance(rows_then, int) and rows_then < ref[0])
    result["pass"] = (reference["rc"] == 0 and result["kill_landed_mid_run"] and rerun["rc"] == 0
                      and result["rows_equal"] and result["hash_equal"] and ref[0] > 0)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"drill_ingest_kill {'PASS' if result['pass'] else 'FAIL'}: reference {ref[0]} rows in "
          f"{reference['wall_s']:.1f} s "
          f"(rc {reference['rc']}); killed at {killed['kill_at_s'] or float('nan'):.1f} s, landed mid-run "
          f"{result['kill_landed_mid_run']} (manifest {after.get('manifest')}, {rows_then} rows readable, "
          f"{after.get('files_on_disk')} files on disk); rerun {got[0]} rows; rows equal {result['rows_equal']}, "
          f"content hash equal {result['hash_equal']}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus "
          f"-> {a.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
