"""The Tune function trainable: one trial = one Ray Train run (Train V2 pattern), then a test-split evaluation.

The trial is only a driver: it turns its sampled config into a training config, launches the TorchTrainer
through ``medray.train.run.run_training`` with run name = trial id and storage under ``--out``, lets
``TuneReportCallback`` forward every validation report to Tune, and finally evaluates the best checkpoint on
the test split and reports those numbers once more. Re-running a trial after an interruption reuses the same
run name, so Ray Train resumes from the trial's own latest checkpoint instead of starting over.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medray.tune.space import build_config

log = logging.getLogger(__name__)

# test-split metrics copied from ``medray eval``'s metrics.json into the trial's final report
EVAL_METRICS = ("psnr", "ssim", "ncc", "mi", "sf", "mg")
STARTS_LOG = "trial_starts.jsonl"


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs besides its sampled config (shipped once via ``tune.with_parameters``)."""

    model: str
    shards: str
    runs_dir: str  # Ray Train storage_path for every trial's run
    evals_dir: str  # <evals_dir>/<trial id>/metrics.json
    metric: str
    mode: str
    base: dict[str, Any] = field(default_factory=dict)  # dotted overrides shared by all trials
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → dotted overrides
    workers: int = 1
    cpu_per_worker: float = 1.0
    gpu_per_worker: float = 0.0


def trial_overrides(setup: TrialSetup, config: dict[str, Any]) -> dict[str, Any]:
    """Dotted training-config overrides for one trial: base < variant < sampled params < run identity."""
    flat: dict[str, Any] = dict(setup.base)
    variant = config.get("variant")
    if variant is not None:
        flat.update(setup.variants[variant])
    flat.update(config.get("params", {}))
    flat.update({"num_workers": setup.workers, "use_gpu": setup.gpu_per_worker > 0})
    return flat


def _record_start(setup: TrialSetup, trial_id: str) -> None:
    """Append-only audit of trial launches: shows which trials a resumed sweep really re-ran."""
    path = Path(setup.evals_dir) / trial_id / STARTS_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps({"trial_id": trial_id, "started": time.time()}) + "\n")


def read_starts(evals_dir: Path, trial_id: str) -> int:
    path = Path(evals_dir) / trial_id / STARTS_LOG
    return len(path.read_text().splitlines()) if path.is_file() else 0


def train_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from medray.train.options import RunOptions, TrainConfig
    from medray.train.run import build_trainer
    from medray.tune.release import PlacementGroupRecorder

    trial_id = ray.tune.get_context().get_trial_id()
    _record_start(setup, trial_id)
    cfg = build_config(TrainConfig, setup.model, trial_overrides(setup, config), where=f"trial {trial_id}")
    opts = RunOptions(shards=Path(setup.shards), name=trial_id, storage=Path(setup.runs_dir), train=cfg)
    # TuneReportCallback forwards each epoch's report (and its checkpoint path) to this trial
    # PlacementGroupRecorder lets the sweep driver free this run's workers if Tune stops the trial early
    callbacks = [TuneReportCallback(), PlacementGroupRecorder(setup.evals_dir, trial_id)]
    result = build_trainer(opts, callbacks=callbacks).fit()
    if result.error is not None:
        raise result.error

    final: dict[str, Any] = {k: v for k, v in (result.metrics or {}).items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    best = result.get_best_checkpoint(setup.metric, setup.mode) if result.checkpoint is not None else None
    # a rerun of a run that had already finished reports nothing new: take the numbers saved with the best
    for ckpt, metrics in result.best_checkpoints or []:
        if best is not None and ckpt.path == best.path:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    final.setdefault(k, v)
    if best is None:
        log.warning("trial %s produced no checkpoint; nothing to evaluate", trial_id)
        final["best_checkpoint"] = ""
        ray.tune.report(final)
        return
    from medray.evaluate.checkpoint import evaluate_checkpoint

    eval_dir = Path(setup.evals_dir) / trial_id / "test"
    evaluate_checkpoint(checkpoint=Path(best.path), shards=Path(setup.shards), split="test", out=eval_dir)
    report = json.loads((eval_dir / "metrics.json").read_text())
    for method, prefix in (("medray", "test"), ("bicubic", "bicubic")):
        for name in EVAL_METRICS:
            stats = report.get("methods", {}).get(method, {}).get(name)
            if stats is not None:
                final[f"{prefix}_{name}"] = float(stats["mean"])
    final["test_n_slices"] = int(report.get("n_slices", 0))
    final["test_data"] = str(report.get("data", ""))
    final["best_checkpoint"] = str(best.path)
    ray.tune.report(final)
