"""Validation PSNR/SSIM on whole slices, summed per worker and all-reduced so every rank sees the same numbers
(early stopping must decide the same way on every rank or DDP would hang)."""
from __future__ import annotations

import torch
import torch.distributed as dist

from medray.train.step import unwrap


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else t.device
        r = t.to(dev)
        dist.all_reduce(r, op=dist.ReduceOp.SUM)
        t.copy_(r.cpu())
    return t


@torch.no_grad()
def validate(G, batches, *, task, device, max_slices: int, amp=None) -> dict:
    """Mean val PSNR/SSIM over at most ``max_slices`` slices of this worker's share. ``batches`` yields
    EvalCollate dicts. The bare G runs in eval mode (no DDP sync, dropout/BN in inference form) through the
    kind's own inference pipeline (``task.predict``), the same code that serves it."""
    from medray.metrics import psnr_batch, ssim_batch

    g = unwrap(G)
    was_training = g.training
    g.eval()
    sums = torch.zeros(3, dtype=torch.float64)  # psnr, ssim, count
    for batch in batches:
        if sums[2] >= max_slices:
            continue  # drain instead of break: a streaming split shard is best consumed to its end
        hr = batch["hr"].to(device)
        with amp.autocast() if amp is not None else torch.autocast(device.type, enabled=False):
            out = task.predict(g, batch, device)
        out = out.float().clamp(0, 1)
        sums[0] += psnr_batch(out, hr, data_range=1.0).double().sum().cpu()
        sums[1] += ssim_batch(out, hr, data_range=1.0).double().sum().cpu()
        sums[2] += hr.shape[0]
    if was_training:
        g.train()
    _all_reduce(sums)
    n = max(float(sums[2]), 1.0)
    return {"val_psnr": float(sums[0]) / n if sums[2] else float("nan"),
            "val_ssim": float(sums[1]) / n if sums[2] else float("nan"), "val_slices": int(sums[2])}


def all_reduce_sum(values: list[float]) -> list[float]:
    t = _all_reduce(torch.tensor(values, dtype=torch.float64))
    return [float(v) for v in t]
