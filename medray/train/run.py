"""The training driver: shards → Ray Datasets → ``TorchTrainer`` (DDP over ``num_workers``) → checkpoints,
loss curves and a console summary. Rerunning with the same ``name`` and ``storage`` resumes: Ray Train V2
restores the run's checkpoint state from storage and the worker continues from the latest checkpoint."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from medray.config import InputError, to_dict
from medray.shards.dataset import read_shards
from medray.train.options import RunOptions, TrainConfig, config_from_sources

log = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    result: object  # ray.train.Result
    checkpoint: Path | None  # latest checkpoint folder
    best_checkpoint: Path | None  # best by val PSNR
    metrics: dict  # last reported metrics
    run_dir: Path
    curves_png: Path | None


def make_datasets(shards: Path, cfg: TrainConfig) -> dict:
    """Materialised train/val datasets of the rows this model can use (val capped at val_max_slices)."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False  # the loop prints one line per epoch
    from medray import tasks

    sel = dict(**tasks.get(cfg.model).selection(cfg), n_channels=cfg.n_channels, modality=cfg.modality,
               channels_as_samples=cfg.channels_as_samples)
    scale = sel["scale"]
    train = read_shards(shards, "train", **sel).materialize()
    val = read_shards(shards, "val", **sel).limit(cfg.val_max_slices).materialize()
    n_train = train.count()
    if n_train < cfg.batch_size:
        raise InputError("too_few_rows", f"{n_train} train rows match (model={cfg.model}, n_channels={cfg.n_channels}, "
                                         f"scale={scale}) but the global batch is {cfg.batch_size}; lower --batch-size")
    if val.count() == 0:
        raise InputError("missing_split", "no 'val' rows match this model's selection; validation needs some")
    return {"train": train, "val": val}


def build_trainer(opts: RunOptions, datasets: dict | None = None, callbacks=()):
    """TorchTrainer for ``opts`` (the Tune side builds on this too)."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from medray.train.loop import train_loop_per_worker

    cfg = opts.train
    run_config = ray.train.RunConfig(
        name=opts.name,
        storage_path=str(Path(opts.storage).resolve()),
        failure_config=ray.train.FailureConfig(max_failures=cfg.max_failures),
        checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.num_to_keep,
                                                     checkpoint_score_attribute="val_psnr",
                                                     checkpoint_score_order="max"),
        callbacks=list(callbacks),
    )
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=to_dict(cfg),
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu),
        run_config=run_config,
        datasets=datasets if datasets is not None else make_datasets(Path(opts.shards), cfg),
    )


def plot_curves(history: list[dict], out: Path) -> Path | None:
    """Loss and validation curves per epoch as one PNG (matplotlib, headless)."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    loss_keys = sorted(k for k in history[-1] if k in ("d_loss", "g_loss") or k.startswith("g_"))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for k in loss_keys:
        ax1.plot(epochs, [h.get(k, float("nan")) for h in history], label=k)
    ax1.set_xlabel("epoch"), ax1.set_ylabel("loss"), ax1.legend(fontsize=7), ax1.set_title("training losses")
    ax2.plot(epochs, [h.get("val_psnr", float("nan")) for h in history], "o-", label="val PSNR (dB)")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("PSNR (dB)"), ax2.set_title("validation")
    ax3 = ax2.twinx()
    ax3.plot(epochs, [h.get("val_ssim", float("nan")) for h in history], "s--", color="tab:orange", label="val SSIM")
    ax3.set_ylabel("SSIM")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def run_training(opts: RunOptions) -> TrainOutcome:
    from medray.models.checkpoint import load_checkpoint

    from medray.train.progress import ConsoleProgress

    with ConsoleProgress.for_config(opts.name, opts.train) as progress:  # a line per report on the driver console
        result = build_trainer(opts, callbacks=[progress.callback]).fit()
    if result.error is not None:
        raise result.error
    run_dir = Path(result.path)
    latest = Path(result.checkpoint.path) if result.checkpoint is not None else None
    best = result.get_best_checkpoint("val_psnr", "max") if result.checkpoint is not None else None
    curves, metrics = None, dict(result.metrics or {})
    if latest is not None:
        history = load_checkpoint(latest).get("history", [])
        (run_dir / "history.json").write_text(json.dumps(history, indent=1))
        curves = plot_curves(history, run_dir / "loss_curves.png")
        if not metrics and history:  # a rerun of a complete run reports nothing new
            metrics = dict(history[-1])
    return TrainOutcome(result, latest, Path(best.path) if best is not None else None, metrics, run_dir, curves)


def train_from_cli(args) -> int:
    """``medray train``: YAML (--config) then the flags that were given, validated as one TrainConfig."""
    overrides = {
        "model": args.model, "num_workers": args.num_workers, "use_gpu": True if args.use_gpu else None,
        "scale": args.scale, "patch": args.patch, "max_epochs": args.max_epochs, "max_steps": args.max_steps,
        "batch_size": args.batch_size, "time_budget_s": getattr(args, "time_budget", None),
    }
    cfg = config_from_sources(args.config, overrides, preset=getattr(args, "preset", None))
    if getattr(args, "perceptual", None):
        cfg = cfg.replace(loss={**cfg.loss, "perceptual": args.perceptual})
    opts = RunOptions(shards=args.shards, name=args.name, storage=args.storage, train=cfg)
    out = run_training(opts)
    m = out.metrics
    print(f"medray train: {opts.name} finished at epoch {m.get('epoch')} (step {m.get('step')}): "
          f"val PSNR {m.get('val_psnr', float('nan')):.2f} dB, SSIM {m.get('val_ssim', float('nan')):.4f}, "
          f"best {m.get('best_val_psnr', float('nan')):.2f} dB at epoch {m.get('best_epoch')}")
    print(f"  latest checkpoint: {out.checkpoint}\n  best checkpoint:   {out.best_checkpoint}\n"
          f"  loss curves:       {out.curves_png}")
    return 0
