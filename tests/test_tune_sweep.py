"""A 2-trial sweep of a few steps on tiny shards: table + plot written; an interrupted sweep resumes without
re-running finished trials. Trials are real Ray Train runs, so these are slow on 2 CPU cores."""
import math
import os
import signal
import threading
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


class InterruptAfterFirstTrial:
    """A Tune callback that presses Ctrl+C (SIGINT to this process) once the first trial has finished —
    the same path a user's interruption takes; Tune saves the experiment state and stops."""

    def __init__(self):
        from ray.tune import Callback

        outer = self

        class _CB(Callback):
            def on_trial_complete(self, iteration, trials, trial, **info):
                if outer.finished is None:
                    outer.finished = trial.trial_id
                    assert threading.current_thread() is threading.main_thread()
                    os.kill(os.getpid(), signal.SIGINT)

        self.finished = None
        self.callback = _CB()


def test_resume_needs_a_sweep_and_a_rerun_needs_resume(tmp_path, tiny_space):
    space = load_space(tiny_space)
    with pytest.raises(ConfigError, match="no sweep to resume"):
        run_sweep(space, tmp_path, tmp_path / "out", resume=True)
    (tmp_path / "out" / "tune" / "smoke").mkdir(parents=True)
    with pytest.raises(ConfigError, match="pass --resume"):
        run_sweep(space, tmp_path, tmp_path / "out")


@pytest.mark.slow
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


@pytest.mark.slow
def test_interrupted_sweep_resumes_only_unfinished_trials(ray_session, tiny_shards, tiny_space, tmp_path):
    space = load_space(tiny_space)
    out = tmp_path / "sweep"
    stop = InterruptAfterFirstTrial()
    first = run_sweep(space, tiny_shards, out, tune_callbacks=[stop.callback])
    assert stop.finished is not None
    done_first = {r["trial_id"]: r for r in first.rows if r["status"] == "done"}
    assert list(done_first) == [stop.finished]  # the interruption really left a trial unfinished
    assert len(first.rows) == 2

    second = run_sweep(space, tiny_shards, out, resume=True)
    assert [r["status"] for r in second.rows] == ["done", "done"]
    evals = out / "trials"
    assert read_starts(evals, stop.finished) == 1  # the finished trial was not launched again
    again = next(r for r in second.rows if r["trial_id"] == stop.finished)
    assert again["best_checkpoint"] == done_first[stop.finished]["best_checkpoint"]
    other = next(r for r in second.rows if r["trial_id"] != stop.finished)
    assert read_starts(evals, other["trial_id"]) >= 1
    for r in second.rows:
        assert math.isfinite(r["test_psnr"]) and Path(r["best_checkpoint"]).is_dir()
    assert (out / "results.md").is_file() and (out / "smoke_ablation.png").is_file()
