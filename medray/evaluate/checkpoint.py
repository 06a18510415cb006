"""``medray eval``: score a checkpoint on a shard split against the classic upsamplers.

SR (iotgan): per slice PSNR, SSIM, NCC, MI, SF, MG (data_range 1) for medray, bicubic and nearest on the same
LR inputs, scale and normalisation; mean ± std overall and per modality. The bicubic baseline is plain
``F.interpolate(mode="bicubic", antialias=False)`` of the shard LR (which ingest made by blur + area
downsampling + noise, not by bicubic downsampling, so bicubic is not favoured by construction).
cGAN (pixmed): PSNR/SSIM of mask → image against the real slice.
Outputs in ``out``: metrics.json (layout in DESIGN.md), per_slice.csv, metrics.md, grid_*.png.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from medray import metrics as M
from medray.config import InputError, check_choice
from medray.data.batches import EvalCollate
from medray.shards.decode import table_to_batch
from medray.shards.local import read_rows_local
from medray.shards.schema import SPLITS, lr_column
from medray.shards.selection import check_selection
from medray.evaluate.report import summarise, write_grids, write_tables

log = logging.getLogger(__name__)

SR_METRICS = {
    "psnr": lambda x, y: M.psnr(x, y, 1.0), "ssim": lambda x, y: M.ssim(x, y, 1.0), "ncc": M.ncc,
    "mi": lambda x, y: M.mutual_information(x, y, 1.0), "sf": lambda x, y: M.spatial_frequency(x, 1.0),
    "mg": lambda x, y: M.mean_gradient(x, 1.0),
}
SR_METHODS = ("medray", "bicubic", "nearest")


def upsample(lr: torch.Tensor, scale: int, mode: str) -> torch.Tensor:
    """The baselines: bicubic (no antialias, align_corners False) or nearest, clamped to [0, 1]."""
    if mode == "bicubic":
        up = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False, antialias=False)
    else:
        up = F.interpolate(lr, scale_factor=scale, mode="nearest")
    return up.clamp(0, 1)


def _load_rows(shards: Path, split: str, kind: str, cfg, max_slices: int | None, replicate: bool = False,
               explode: bool = False):
    check_choice("split", split, SPLITS)
    n_channels = 1 if replicate else (cfg.in_channels if kind == "iotgan" else cfg.out_channels)
    explode = explode and n_channels == 1  # a single-channel model trained on channels as samples: score it so too
    check_selection(shards, split, n_channels=None if explode else n_channels)  # missing split / channels → InputError
    scale = cfg.scale if kind == "iotgan" else None
    table = read_rows_local(shards, split, scale=scale, n_channels=n_channels, channels_as_samples=explode)
    if kind == "iotgan" and table.num_rows == 0:
        raise InputError("scale_mismatch", f"the checkpoint is ×{cfg.scale} but no {split!r} rows of the shards carry "
                                           f"{lr_column(cfg.scale)} (ingest with --scales {cfg.scale})")
    if kind == "pixmed":
        table = table.filter(table.column("mask").is_valid())
        if table.num_rows == 0:
            raise InputError("no_masks", f"a pixmed checkpoint needs slices with masks; {split!r} has none")
    if max_slices and table.num_rows > max_slices:  # evenly over patients and slice positions, not the first few
        table = table.take(np.linspace(0, table.num_rows - 1, max_slices).round().astype(np.int64))
    return table, n_channels, scale


def _label(shards: Path, table) -> str:
    formats = sorted(set(table.column("modality").to_pylist()))
    return f"{', '.join(formats)} slices from {Path(shards).resolve().name}"


def evaluate_checkpoint(checkpoint, shards, split: str = "test", out=None, *, max_slices: int | None = None,
                        batch_size: int = 8, n_grids: int = 4, data_label: str | None = None,
                        replicate_channels: bool = False) -> dict:
    """Score ``checkpoint`` on ``split`` of ``shards`` and write the reports into ``out``; returns metrics.json.

    ``replicate_channels`` (SR only) scores a multi-channel model on single-channel scans: the one LR channel is
    copied into every input channel and the output channels are averaged — a cross-domain probe, labelled so in
    metrics.json, never the default."""
    from medray.models.checkpoint import load_generator

    G, cfg, ckpt = load_generator(checkpoint)
    kind = ckpt["kind"]
    shards, out = Path(shards), Path(out)
    replicate = bool(replicate_channels and kind == "iotgan" and cfg.in_channels > 1)
    explode = bool((ckpt.get("train_config") or {}).get("channels_as_samples", False))
    table, n_channels, scale = _load_rows(shards, split, kind, cfg, max_slices, replicate, explode)
    collate = EvalCollate(n_channels, scale)
    rows, examples = [], []
    grid_at = set(np.linspace(0, table.num_rows - 1, min(n_grids, table.num_rows)).round().astype(int).tolist())
    with torch.no_grad():
        for start in range(0, table.num_rows, batch_size):
            part = table.slice(start, batch_size)
            b = collate(table_to_batch(part))
            ids = list(zip(part.column("patient_id").to_pylist(), part.column("slice_index").to_pylist(),
                           part.column("modality").to_pylist()))
            if kind == "iotgan":
                if replicate:
                    sr = G(b["lr"].expand(-1, cfg.in_channels, -1, -1), b["vitals"]).mean(dim=1, keepdim=True)
                else:
                    sr = G(b["lr"], b["vitals"])
                outs = {"medray": sr.clamp(0, 1), "bicubic": upsample(b["lr"], scale, "bicubic"),
                        "nearest": upsample(b["lr"], scale, "nearest")}
                metric_fns = SR_METRICS
            else:
                from medray.models.cgan import encode_mask

                outs = {"pixmed": G(encode_mask(b["mask"], cfg.mask_channels)).clamp(0, 1)}
                metric_fns = {k: SR_METRICS[k] for k in ("psnr", "ssim")}
            hr = b["hr"].numpy()
            for i, (pid, sl, mod) in enumerate(ids):
                for method, t in outs.items():
                    x = t[i].numpy()
                    rows.append({"patient": pid, "slice": sl, "modality": mod, "method": method,
                                 **{m: fn(x, hr[i]) for m, fn in metric_fns.items()}})
                if start + i in grid_at:  # grids spread over the split, not its first slices
                    examples.append({"id": f"{pid[:8]}-{sl}", "hr": hr[i], "mask": b["mask"][i].numpy(),
                                     "lr": b["lr"][i].numpy() if "lr" in b else None,
                                     **{m: t[i].numpy() for m, t in outs.items()}})
    methods = list(outs)
    result = {
        "scale": scale, "split": split, "n_slices": table.num_rows,
        "data": data_label or _label(shards, table),
        "methods": summarise(rows, methods, list(metric_fns)),
        "by_modality": {mod: summarise([r for r in rows if r["modality"] == mod], methods, list(metric_fns))
                        for mod in sorted({r["modality"] for r in rows})},
        "kind": kind, "checkpoint_epoch": ckpt.get("epoch"),
        **({"channels": f"1-channel scans replicated into the model's {cfg.in_channels} inputs, outputs averaged"}
           if replicate else {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    write_tables(rows, result, out)
    write_grids(examples, kind, out)
    log.info("eval → %s\n%s", out, (out / "metrics.md").read_text())
    return result
