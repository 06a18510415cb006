"""Drill (small): an Enhancer replica SIGKILLed every 3 s for 10 s under 16 clients; every kill lands and ≥ 99 % of
requests succeed (clients retry a connection error or 503 once). Full size: benchmarks/chaos_serve.py."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # the whole serving stack (broker, Ray, Serve, 6 Enhancer replicas): ~1-2 min on 2 cores
def test_enhancer_replicas_killed_under_load_keep_serving(tmp_path):
    out = tmp_path / "chaos.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "chaos_serve.py"), "--seconds", "10",
                        "--every", "3", "--replicas", "6", "--replica-cpus", "0.2", "--out", str(out)],
                       capture_output=True, text=True, timeout=480)
    d = json.loads(out.read_text())
    assert d["kills_landed"] >= 3 and d["kills_landed"] == d["kill_ticks"], (d["kills"], d["ticks_skipped"])
    total = d["ok"] + d["failed"]
    assert total > 0 and d["ok"] / total >= 0.99, d["errors"]
    assert d["running_at_end"] >= 1, r.stdout[-2000:] + r.stderr[-2000:]
