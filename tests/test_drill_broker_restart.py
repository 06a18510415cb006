"""Drill (small): the broker (tansu on S3 storage) restarted under a steady idempotent acks=all producer: nothing
acknowledged is lost, nothing is written twice, both shards reconnect and commit again. Full size:
benchmarks/drill_broker_restart.py (60 s at 500 msg/s)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a local S3 server, the broker twice, two shards: ~40-60 s on the shared 2 cores
def test_broker_restart_under_a_steady_producer_loses_nothing(tmp_path):
    pytest.importorskip("moto", reason="moto[server] (dev extra) provides the S3 endpoint tansu persists to")
    out = tmp_path / "drill.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "drill_broker_restart.py"), "--seconds", "10",
                        "--rate", "200", "--restart-at", "3", "--timeout", "200", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    d = json.loads(out.read_text())
    assert d["sent"] == d["acked"] == 2000 and d["send_failures"] == 0
    assert d["lost"] == 0 and d["duplicate_writes"] == 0
    assert d["all_shards_reconnected"] and d["broker_down_s"] > 0
