"""A 2-trial sweep of a few steps on tiny shards: table + plot written; an interrupted sweep resumes without
re-running finished trials. Trials are real Ray Train runs, so these are slow on 2 CPU cores."""
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medray.cli import main
from medray.config import ConfigError
from medray.tune.runner import run_sweep
from medray.tune.space import load_space
from medray.tune.trainable import read_starts

TINY = """
model: iotgan
description: two-variant smoke sweep
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
paper_source: "IoT-GAN paper, BraTS 2021 (PSNR dB / SSIM)"
variants:
  full: {label: full model, overrides: {}, paper: {psnr: 28.5, ssim: 0.84}}
  no_vitals: {label: − vitals-adaptive, overrides: {generator.vitals_adaptive: false}}
"""


@pytest.fixture()
def tiny_space(tmp_path):
    p = tmp_path / "smoke.yaml"
    p.write_text(TINY)
    return p


def test_resume_needs_a_sweep_and_a_rerun_needs_resume(tmp_path, tiny_space):
    space = load_space(tiny_space)
    with pytest.raises(ConfigError, match="no sweep to resume"):
        run_sweep(space, tmp_path, tmp_path / "out", resume=True)
    (tmp_path / "out" / "tune" / "smoke").mkdir(parents=True)
    with pytest.raises(ConfigError, match="pass --resume"):
        run_sweep(space, tmp_path, tmp_path / "out")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_two_trial_sweep_writes_table_and_plot(ray_session, tiny_shards, tiny_space, tmp_path, capsys):
    out = tmp_path / "sweep"
    rc = main(["tune", str(tiny_space), "--shards", str(tiny_shards), "--out", str(out), "--max-steps", "2"])
    assert rc == 0
    table = (out / "results.md").read_text()
    assert "paper (BraTS 2021) PSNR" in table and "medray (data used)" in table
    assert "| full model |" in table and "| − vitals-adaptive |" in table
    assert "bicubic on the same test split" in table
    png = out / "smoke_ablation.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == 3  # header + 2 trials
    assert "results.md" in capsys.readouterr().out


def _wait_for(predicate, proc, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"driver exited (rc={proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1.0)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_interrupted_sweep_resumes_only_unfinished_trials(ray_session, tiny_shards, tiny_space, tmp_path):
    """Ctrl+C a real `medray tune` driver (a subprocess on the test's Ray cluster) once trial 1 has finished
    and trial 2 has started; `--resume` then finishes trial 2 and does not launch trial 1 again."""
    out = tmp_path / "sweep"
    evals = out / "trials"
    env = {**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    cmd = [sys.executable, "-m", "medray.cli", "tune", str(tiny_space), "--shards", str(tiny_shards),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # max_concurrent_trials=1: the second trial only starts once the first is recorded as finished
        _wait_for(lambda: evals.is_dir() and len(list(evals.glob("*/trial_starts.jsonl"))) == 2, proc, 480,
                  "the second trial to start")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    first, second = sorted(p.name for p in evals.iterdir())
    assert (evals / first / "test" / "metrics.json").is_file()
    assert not (evals / second / "test" / "metrics.json").exists()  # the interruption left trial 2 unfinished

    outcome = run_sweep(load_space(tiny_space), tiny_shards, out, resume=True)
    assert [(r["trial_id"], r["status"]) for r in outcome.rows] == [(first, "done"), (second, "done")]
    assert read_starts(evals, first) == 1  # the finished trial was not launched again
    assert read_starts(evals, second) == 2
    for r in outcome.rows:
        assert math.isfinite(r["test_psnr"]) and Path(r["best_checkpoint"]).is_dir()
    assert (out / "results.md").is_file() and (out / "smoke_ablation.png").is_file()
