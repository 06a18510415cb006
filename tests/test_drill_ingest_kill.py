"""Drill (small): ``medray ingest`` SIGKILLed during its decode/write stage, then rerun, gives the rows of an
uninterrupted run: same count, same content hash (no duplicates, no lost slices). Full size:
benchmarks/drill_ingest_kill.py (3 patients)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # three ingest runs, each starting its own Ray: ~2-3 min on the shared 2 cores
def test_ingest_killed_mid_run_then_rerun_equals_uninterrupted(tmp_path):
    out = tmp_path / "drill.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "drill_ingest_kill.py"), "--patients", "2",
                        "--out", str(out)], capture_output=True, text=True, timeout=900)
    d = json.loads(out.read_text())
    assert d["killed_run"]["killed"] and d["killed_run"]["rc"] != 0, d["killed_run"]
    assert d["kill_landed_mid_run"], d["killed_run"]  # manifest absent, fewer rows than the reference readable
    assert d["reference"]["rows"] > 0 and d["rows_equal"] and d["hash_equal"], (d["reference"], d["rerun"])
    assert r.returncode == 0 and d["pass"], r.stdout[-2000:] + r.stderr[-2000:]
