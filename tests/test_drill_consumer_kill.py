"""Drill (small): the vitals consumer SIGKILLed between apply and commit, twice, loses nothing; the duplicates it
costs are counted and are exactly the killed batches. benchmarks/drill_consumer_kill.py at full size: 5 kills
over 50,000 messages."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # three consumer processes and a broker: ~30-60 s on the shared 2 cores
def test_consumer_killed_between_apply_and_commit_loses_nothing(tmp_path):
    out = tmp_path / "drill.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "drill_consumer_kill.py"), "--messages", "3000",
                        "--kills", "2", "--rate", "300", "--max-records", "100", "--kill-after", "2", "5",
                        "--timeout", "240", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    d = json.loads(out.read_text())
    assert d["produced"] == 3000 and d["kills"] == 2 and d["lost"] == 0
    assert d["redelivered"] > 0 and d["redelivered_equals_killed_batches"]
    assert all(t is not None for t in d["recovery_s"])
