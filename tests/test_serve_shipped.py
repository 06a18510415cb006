"""A fresh install's ``medray serve`` with no model flags serves the shipped ×2 weights: a real CT DICOM (pydicom's
CT_small.dcm) comes back as a derived DICOM at twice the size, and SIGTERM stops every process it started."""
import ast
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
import requests
from pydicom.data import get_testdata_file

from medray.ports import free_port
from medray.serve.stack import alive

TOKEN = "shipped-weights-test-token"


@pytest.mark.slow  # its own Ray + Serve + broker: ~1-2 min on 2 cores
@pytest.mark.timeout(480)
def test_medray_serve_without_flags_enhances_a_dicom_with_the_shipped_weights(tmp_path):
    from medray.weights import default_checkpoint

    assert default_checkpoint("sr", 2) is not None, "this install ships no ×2 weights"
    port = free_port()
    env = {**os.environ, "MEDRAY_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    env.pop("MEDRAY_CHECKPOINT", None)
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "medray"), "serve", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True)
    pids: list[int] = []
    try:
        url, deadline = None, time.time() + 360
        while time.time() < deadline and proc.poll() is None:
            text = Path(log.name).read_text()
            m = re.search(r"medray serving at (\S+)/ .*; pids (\{.*\})\. Ctrl-C", text)
            if m:
                url, pids = m.group(1), [p for v in ast.literal_eval(m.group(2)).values() for p in v]
                break
            time.sleep(2)
        assert url, f"medray serve did not come up:\n{Path(log.name).read_text()[-3000:]}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        info = requests.get(f"{url}/v1/models", headers=auth, timeout=60).json()["enhancer"]
        assert info["kind"] == "iotgan" and info["config"]["scale"] == 2, info

        src = Path(get_testdata_file("CT_small.dcm"))
        r = requests.post(f"{url}/v1/enhance", data=src.read_bytes(), timeout=120,
                          headers={**auth, "Content-Type": "application/dicom"})
        assert r.status_code == 200, r.text[:500]
        (tmp_path / "out.dcm").write_bytes(r.content)
        out, ref = pydicom.dcmread(tmp_path / "out.dcm"), pydicom.dcmread(src)
        assert (out.Rows, out.Columns) == (2 * ref.Rows, 2 * ref.Columns)
        assert out.SeriesInstanceUID != ref.SeriesInstanceUID and "DERIVED" in out.ImageType
        assert requests.post(f"{url}/v1/enhance", data=src.read_bytes(), timeout=60,
                             headers={"Content-Type": "application/dicom"}).status_code == 401  # no token
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    time.sleep(2)
    assert [p for p in pids if alive(p)] == [], "medray serve left processes running"
