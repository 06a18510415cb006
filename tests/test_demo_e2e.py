"""The README's main command, end to end: ``medray demo --quick`` in its own process (its own local Ray), as a
newcomer runs it. Slow (minutes), but it is the proof that the pieces work together, so CI runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_quick_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "medray.cli", "demo", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=840, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    stages = json.loads((out / "report" / "stages.json").read_text())
    assert [s["status"] for s in stages] == ["ok"] * len(stages), stages
    page = (out / "report" / "index.html").read_text()
    assert "Super-resolution on held-out demo patients" in page and "bicubic" in page
    assert "α vs vitals for the served requests" in page and "X-Medray-Alpha" in page
    assert "paper (Kaggle brain-tumour MRI, PixMed refs [43], [39])" in page and "synthetic" in page
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert {"medray", "bicubic", "nearest"} <= set(metrics["methods"])
    served = json.loads((out / "served" / "requests.json").read_text())
    assert {r["request"] for r in served} >= {"enhance png", "enhance nifti", "enhance dicom", "augment classic",
                                              "augment synthesize"}
    # everything the demo started is gone: broker and simulator, by the PIDs it recorded
    pids = json.loads((out / "logs" / "pids.json").read_text())
    assert set(pids) == {"broker", "simulator"}
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(), name
