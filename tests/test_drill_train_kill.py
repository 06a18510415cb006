"""Drill (small): a Ray Train worker SIGKILLed mid-epoch; the run restarts (FailureConfig max_failures=1),
resumes at the epoch after its last checkpoint and finishes every epoch with a val PSNR close to an unkilled run
of the same seed. Full size: benchmarks/drill_train_kill.py (5 epochs, with a seed-noise run)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # two Ray Train runs and a restart: ~2-3 min on the shared 2 cores
def test_train_worker_killed_mid_epoch_resumes_from_checkpoint(tmp_path):
    out = tmp_path / "drill.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "drill_train_kill.py"), "--epochs", "3",
                        "--kill-epoch", "1", "--no-noise-run", "--tol-db", "0.5", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    d = json.loads(out.read_text())
    assert d["kill_landed_mid_epoch"], d["killed"].get("kill")
    assert d["resumed_at_epoch"] == d["last_checkpointed_epoch"] + 1 and d["epochs_lost"] <= 1, d["killed"]
    assert d["killed"]["final_epoch"] == 2 and d["killed"]["error"] is None, d["killed"]
    assert abs(d["psnr_delta_db"]) <= 0.5, (d["reference"], d["killed"])
    assert r.returncode == 0 and d["pass"], r.stdout[-2000:] + r.stderr[-2000:]
