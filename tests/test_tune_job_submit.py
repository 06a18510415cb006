"""A sweep submitted to a running cluster, as a researcher does it: `ray start --head` (dashboard on, token auth)
then `ray job submit --address http://127.0.0.1:<dashboard> -- <venv>/bin/medray tune …` from another shell.
The results land in the given --out; a job stopped mid-sweep is finished by a second job with --resume,
without re-running the trial that had finished.

The head is this test's own: free ports, its own --temp-dir and token file, stopped by killing exactly its own
processes (never `ray stop`, which would take down every Ray on the machine, the test session's included)."""
import csv
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from medray.ports import HOST, free_port
from medray.tune.trainable import read_starts

BIN = Path(sys.executable).parent
SPACE = """
model: iotgan
description: job-submit smoke sweep
metric: val_psnr
mode: max
max_concurrent_trials: 1
resources_per_trial: {workers: 1, cpu: 1, gpu: 0}
base:
  max_epochs: 1
  max_steps: 2
  patch: 32
  batch_size: 2
  val_max_slices: 2
  val_batch_size: 2
  augment: false
  generator: {width: 8, depth: 1}
  discriminator: {width: 8, n_layers: 2}
params:
  lr: {grid: [0.0002, 0.001]}
"""


def _own_processes(marker: str) -> list[int]:
    """PIDs whose command line names ``marker`` (the head's temp dir), plus all their descendants."""
    parents: dict[int, int] = {}
    roots = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents[int(proc.name)] = ppid
        if marker in cmd:
            roots.add(int(proc.name))
    found, grew = set(roots), True
    while grew:
        kids = {pid for pid, ppid in parents.items() if ppid in found and pid not in found}
        found |= kids
        grew = bool(kids)
    return sorted(found - {os.getpid()})


def _kill_own(marker: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _own_processes(marker)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if Path(f"/proc/{p}").exists()]
            time.sleep(0.5)
        if not pids:
            return


@pytest.fixture()
def ray_head(tmp_path):
    """A token-authenticated head started with `ray start --head`; yields (env for clients, dashboard URL)."""
    temp_dir = tempfile.mkdtemp(prefix="mrjob", dir="/tmp")  # short: Ray's unix sockets live under it
    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), PATH=f"{BIN}:{env.get('PATH', '')}")
    gcs, dash = free_port(), free_port()
    ports = {f"--{name}": str(free_port()) for name in (
        "node-manager-port", "object-manager-port", "ray-client-server-port", "dashboard-agent-grpc-port",
        "dashboard-agent-listen-port", "metrics-export-port", "runtime-env-agent-port")}
    lo = free_port()
    cmd = [str(BIN / "ray"), "start", "--head", f"--port={gcs}", f"--node-ip-address={HOST}",
           "--include-dashboard=true", f"--dashboard-host={HOST}", f"--dashboard-port={dash}",
           f"--temp-dir={temp_dir}", "--num-cpus=3", "--disable-usage-stats",
           f"--min-worker-port={lo}", f"--max-worker-port={lo + 200}",
           *[f"{k}={v}" for k, v in ports.items()]]
    try:
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=300)
        yield env, f"http://{HOST}:{dash}"
    finally:
        _kill_own(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _ray(env, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _status(env, url, job_id) -> str:
    r = _ray(env, "job", "status", "--address", url, job_id)
    text = (r.stdout + r.stderr).lower()  # "job 'x' succeeded" / "was stopped" / "failed" / "...: RUNNING"
    for state, words in (("SUCCEEDED", "succeeded"), ("STOPPED", "was stopped"), ("FAILED", "failed"),
                         ("RUNNING", "running"), ("PENDING", "pending")):
        if words in text:
            return state
    return text.strip()[-200:] or "?"


def _wait(env, url, job_id, states, timeout_s, until=None) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if until is not None and until():
            return "condition"
        state = _status(env, url, job_id)
        if state in states:
            return state
        if state in ("FAILED", "STOPPED", "SUCCEEDED"):
            logs = _ray(env, "job", "logs", "--address", url, job_id).stdout
            raise AssertionError(f"job {job_id} ended {state}:\n{logs[-4000:]}")
        time.sleep(10)
    raise AssertionError(f"job {job_id}: timed out waiting for {states or 'the condition'}")


def _submit(env, url, job_id, space, shards, out, *extra) -> None:
    r = _ray(env, "job", "submit", "--address", url, "--submission-id", job_id, "--no-wait", "--",
             str(BIN / "medray"), "tune", str(space), "--shards", str(shards), "--out", str(out), *extra)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_job_submitted_sweep_lands_in_out_and_resumes(ray_head, tiny_shards, tmp_path):
    env, url = ray_head
    space = tmp_path / "jobs.yaml"
    space.write_text(SPACE)
    out = tmp_path / "sweep"
    evals = out / "trials"

    r = _ray({k: v for k, v in env.items() if k != "RAY_AUTH_MODE"}, "job", "list", "--address", url)
    assert r.returncode != 0 and "token" in (r.stdout + r.stderr).lower()  # why the docs say RAY_AUTH_MODE=token

    _submit(env, url, "medray-tune-1", space, tiny_shards, out)
    # trials run one at a time: once the second has started the first is finished and recorded
    _wait(env, url, "medray-tune-1", (), 1200,
          until=lambda: evals.is_dir() and len(list(evals.glob("*/trial_starts.jsonl"))) == 2)
    time.sleep(20)  # let Tune write its experiment state after the first trial finished
    assert _ray(env, "job", "stop", "--address", url, "medray-tune-1").returncode == 0
    _wait(env, url, "medray-tune-1", ("STOPPED", "FAILED", "SUCCEEDED"), 300)
    first, second = sorted(p.name for p in evals.iterdir())
    assert (evals / first / "test" / "metrics.json").is_file()

    _submit(env, url, "medray-tune-2", space, tiny_shards, out, "--resume")
    assert _wait(env, url, "medray-tune-2", ("SUCCEEDED",), 1200) == "SUCCEEDED"
    logs = _ray(env, "job", "logs", "--address", url, "medray-tune-2").stdout
    assert "Found multiple active Ray instances" not in logs
    assert "tensorboard --logdir" in logs

    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["done", "done"]
    assert read_starts(evals, first) == 1  # the finished trial was not run again
    assert read_starts(evals, second) >= 1
    assert (evals / second / "test" / "metrics.json").is_file()
    assert list((out / "tune" / "jobs").glob("*/events.out.tfevents.*"))  # Tune's TensorBoard logs
