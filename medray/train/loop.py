"""The Ray Train worker: ``train_loop_per_worker(config)`` with config = ``to_dict(TrainConfig)``.

Per epoch: stream this worker's shard of "train" through aligned random crops + a fresh augmentation
(``TrainCollate``, seeded by epoch and rank), run the GAN step (step.py) on DDP-wrapped G and D, validate on
whole "val" slices (PSNR/SSIM all-reduced), update early stopping, and ``ray.train.report`` — with a rank-0
checkpoint every ``checkpoint_every`` epochs, on a new best and on the last epoch. A restarted or rerun job
resumes from ``ray.train.get_checkpoint()``: weights, optimizers, scalers, epoch, step count, early-stopping
state and the loss history all come back, so the epoch count continues.

Recipe pieces (TrainConfig): ``warmup_epochs`` of pixel loss before the GAN phase; with ``ema_decay`` > 0 an EMA of
G (train/ema.py) is what validation, early stopping and the checkpoint's ``state_dict`` see (the raw weights travel
as ``generator_raw`` for resuming); with ``lr_patience`` > 0 the learning rates drop on a val-PSNR plateau
(train/schedule.py).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from medray import tasks
from medray.config import to_dict
from medray.data.batches import BatchSpec, EvalCollate, TrainCollate
from medray.train.early_stop import EarlyStopping
from medray.train.ema import EMA
from medray.train.optimizers import build_optimizers
from medray.train.options import TrainConfig, config_from_dict
from medray.train.schedule import PlateauSchedule
from medray.train.step import resolve_amp, unwrap
from medray.train.validate import all_reduce_sum, validate


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _restore(ckpt, parts, opt_g, opt_d, amp, ema, sched) -> dict:
    """Load a Ray checkpoint into the bare models/optimizers; returns the training state to continue from.
    ``state_dict`` is the EMA when the run kept one (``generator_raw`` then holds the trained weights); a
    checkpoint written without EMA seeds a new EMA from its weights."""
    from medray.models.checkpoint import load_checkpoint

    with ckpt.as_directory() as d:
        state = load_checkpoint(d)
    unwrap(parts.G).load_state_dict(state.get("generator_raw", state["state_dict"]))
    if ema is not None:
        ema.module.load_state_dict(state["state_dict"])
        ema.num_updates = int(state.get("ema_updates", 0))
    sched.load_state_dict(state.get("lr_schedule"))
    opt_g.load_state_dict(state["optimizers"]["g"])
    if parts.D is not None:
        unwrap(parts.D).load_state_dict(state["discriminator"]["state_dict"])
        opt_d.load_state_dict(state["optimizers"]["d"])
    amp.load_state_dict(state.get("amp_scalers"))
    return state


def _save(parts, opt_g, opt_d, amp, cfg: TrainConfig, *, epoch, step, metrics, early, history, ema, sched):
    """Rank 0: write medray.pt into a temp dir and hand it to Ray (copied to storage by report)."""
    import ray.train
    from medray.models.checkpoint import save_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="medray-ckpt-"))
    has_d = parts.D is not None
    export = ema.module if ema is not None else unwrap(parts.G)  # what eval/serve load
    raw = {"generator_raw": unwrap(parts.G).state_dict(), "ema_updates": ema.num_updates} if ema is not None else {}
    save_checkpoint(
        tmp, kind=parts.kind, config=parts.g_config, state_dict=export.state_dict(), metrics=metrics,
        extra={
            **raw, "lr_schedule": sched.state_dict(),
            **({"discriminator": {"config": parts.d_config, "state_dict": unwrap(parts.D).state_dict()}} if has_d else {}),
            "optimizers": {"g": opt_g.state_dict(), **({"d": opt_d.state_dict()} if has_d else {})},
            "amp_scalers": amp.state_dict(),
            "epoch": epoch, "global_step": step, "train_config": to_dict(cfg),
            "early_stopping": early.state_dict(), "history": history,
        },
    )
    return ray.train.Checkpoint.from_directory(str(tmp))


def train_loop_per_worker(config: dict) -> None:
    import ray.train
    import ray.train.torch

    cfg = config_from_dict(config)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    task = tasks.get(cfg.model)
    parts = task.build(cfg)  # seeded by cfg.seed: the same init on every rank
    torch.manual_seed(cfg.seed + rank)  # then per-rank streams (dropout, noise)
    if isinstance(parts.loss, torch.nn.Module):
        parts.loss.to(device)  # the VGG19 feature net, when the perceptual term is on
    amp = resolve_amp(cfg.amp, device)
    opt_g, opt_d = build_optimizers(cfg, parts.G, parts.D)
    start_epoch, step, history = 0, 0, []
    early = EarlyStopping(cfg.patience, cfg.min_delta)
    ema = EMA(parts.G, cfg.ema_decay) if cfg.ema_decay > 0 else None
    sched = PlateauSchedule([opt_g, opt_d], factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr)
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        state = _restore(ckpt, parts, opt_g, opt_d, amp, ema, sched)
        start_epoch, step, history = state["epoch"] + 1, state["global_step"], list(state.get("history", []))
        early = EarlyStopping.from_state(state.get("early_stopping"), cfg.patience, cfg.min_delta)
    # prepare_model moves to the device in place (optimizer references stay valid) and wraps in DDP.
    # G may leave the vitals MLP unused when a batch has no vitals → find_unused_parameters for G.
    parts.G = ray.train.torch.prepare_model(parts.G, parallel_strategy_kwargs={"find_unused_parameters": True})
    if parts.D is not None:
        parts.D = ray.train.torch.prepare_model(parts.D)
    if ema is not None:
        ema.to(device)
    # optimizer state tensors were loaded on CPU; move them next to their (now moved) parameters
    for opt in (o for o in (opt_g, opt_d) if o is not None):
        for st in opt.state.values():
            for k, v in st.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    st[k] = v.to(device)

    spec = BatchSpec(cfg.n_channels, task.data_scale(cfg), cfg.patch, cfg.augmentation if cfg.augment else None,
                     cfg.seed)
    train_shard, val_shard = ray.train.get_dataset_shard("train"), ray.train.get_dataset_shard("val")
    val_cap = -(-cfg.val_max_slices // world)

    if early.should_stop or start_epoch >= cfg.max_epochs or (cfg.max_steps is not None and step >= cfg.max_steps):
        if rank == 0:  # a rerun of a finished run: nothing left to do, the driver reads the last checkpoint
            print(f"[medray train] resumed at epoch {start_epoch}, step {step}: the run is already complete", flush=True)
        return
    t_run = time.perf_counter()
    for epoch in range(start_epoch, cfg.max_epochs):
        adversarial = epoch >= cfg.warmup_epochs
        logs, n_img, t0 = defaultdict(float), 0, time.perf_counter()
        n_steps = 0
        batches = train_shard.iter_torch_batches(batch_size=cfg.per_worker_batch, drop_last=True,
                                                 collate_fn=TrainCollate(spec, epoch, rank), prefetch_batches=1)
        for batch in batches:
            batch = _to(batch, device)
            out = task.train_step(parts, opt_g, opt_d, batch, amp, adversarial)
            if ema is not None:
                ema.update(unwrap(parts.G))
            for k, v in out.items():
                logs[k] += v
            n_img += batch["hr"].shape[0]
            n_steps += 1
            step += 1
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break  # every rank reaches the same step count: equal shards, drop_last
        train_s = time.perf_counter() - t0
        total_img, = all_reduce_sum([float(n_img)])
        val = validate(ema.module if ema is not None else parts.G, val_shard.iter_torch_batches(batch_size=cfg.val_batch_size,
                                                            collate_fn=EvalCollate(cfg.n_channels, spec.scale)),
                       task=task, device=device, max_slices=val_cap, amp=amp)
        improved = early.update(val["val_psnr"], epoch)
        lr_now = sched.lr
        sched.step(val["val_psnr"])
        # ranks must agree on stopping (else DDP waits forever): any rank over budget stops all
        over_budget = cfg.time_budget_s is not None and all_reduce_sum(
            [float(time.perf_counter() - t_run > cfg.time_budget_s)])[0] > 0
        done = (early.should_stop or over_budget or epoch == cfg.max_epochs - 1
                or (cfg.max_steps is not None and step >= cfg.max_steps))
        metrics = {
            "epoch": epoch, "step": step, "adversarial": adversarial,
            **{k: v / max(n_steps, 1) for k, v in logs.items()}, **val,
            "lr": lr_now, "img_per_s": total_img / train_s if train_s > 0 else 0.0, "epoch_s": time.perf_counter() - t0,
            "best_val_psnr": early.best, "best_epoch": early.best_epoch, "stopped_early": early.should_stop,
        }
        history.append({k: v for k, v in metrics.items() if isinstance(v, (int, float, bool))})
        checkpoint = None
        if rank == 0 and (improved or done or (epoch + 1) % cfg.checkpoint_every == 0):
            checkpoint = _save(parts, opt_g, opt_d, amp, cfg, epoch=epoch, step=step, early=early, history=history,
                               ema=ema, sched=sched,
                               metrics={k: metrics[k] for k in ("epoch", "val_psnr", "val_ssim", "best_val_psnr")})
        if rank == 0:
            loss_txt = " ".join(f"{k}={metrics[k]:.4f}" for k in sorted(logs))
            print(f"[medray train] epoch {epoch} step {step} {loss_txt} val_psnr={val['val_psnr']:.2f} "
                  f"val_ssim={val['val_ssim']:.4f} lr={lr_now:.2e} {metrics['img_per_s']:.1f} img/s"
                  f"{' (new best, checkpoint)' if improved else ''}", flush=True)
        ray.train.report(metrics, checkpoint=checkpoint)
        if checkpoint is not None:
            shutil.rmtree(checkpoint.path, ignore_errors=True)  # report copied it to storage
        if done:
            break
