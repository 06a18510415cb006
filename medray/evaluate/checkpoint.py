"""``medray eval``: score a checkpoint of any kind on a shard split; the kind's Task says what it outputs.

SR kinds: per slice PSNR, SSIM (whole slice and inside the body mask), NCC, MI (bits), SF, MG (data_range 1) for
the checkpoint ("medray"), bicubic and nearest on the same LR inputs, scale and normalisation; mean ± std overall
and per modality. The bicubic baseline is plain ``F.interpolate(mode="bicubic", antialias=False)`` of the shard
LR (which ingest made by blur + area downsampling + noise, not by bicubic downsampling, so bicubic is not
favoured by construction). Synthesis kinds: PSNR/SSIM of label map → image against the real slice.
Outputs in ``out``: metrics.json (layout in DESIGN.md), per_slice.csv, metrics.md, grid_*.png.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from medray import metrics as M
from medray import tasks
from medray.config import InputError, check_choice
from medray.data.batches import EvalCollate
from medray.evaluate.report import summarise, write_grids, write_tables
from medray.shards.decode import table_to_batch
from medray.shards.local import read_rows_local
from medray.shards.schema import SPLITS, lr_column
from medray.shards.selection import check_selection

log = logging.getLogger(__name__)

# name → f(output, reference) on one slice [C, H, W], data_range 1; a Task lists which of these it reports
METRICS = {
    "psnr": lambda x, y: M.psnr(x, y, 1.0), "psnr_fg": lambda x, y: M.psnr_fg(x, y, 1.0),
    "ssim": lambda x, y: M.ssim(x, y, 1.0), "ssim_fg": lambda x, y: M.ssim_fg(x, y, 1.0), "ncc": M.ncc,
    "mi": lambda x, y: M.mutual_information(x, y, 1.0), "sf": lambda x, y: M.spatial_frequency(x, 1.0),
    "mg": lambda x, y: M.mean_gradient(x, 1.0),
}


def _load_rows(shards: Path, split: str, task, cfg, max_slices: int | None, replicate: bool = False,
               explode: bool = False):
    check_choice("split", split, SPLITS)
    n_channels = 1 if replicate else task.model_channels(cfg)
    explode = explode and n_channels == 1  # a single-channel model trained on channels as samples: score it so too
    check_selection(shards, split, n_channels=None if explode else n_channels)  # missing split / channels → InputError
    scale = task.model_scale(cfg)
    table = read_rows_local(shards, split, scale=scale, n_channels=n_channels, channels_as_samples=explode)
    if scale is not None and table.num_rows == 0:
        raise InputError("scale_mismatch", f"the checkpoint is ×{scale} but no {split!r} rows of the shards carry "
                                           f"{lr_column(scale)} (ingest with --scales {scale})")
    if task.needs_mask:
        table = table.filter(table.column("mask").is_valid())
        if table.num_rows == 0:
            raise InputError("no_masks", f"a {task.name} checkpoint needs slices with masks; {split!r} has none")
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
    loaded = tasks.load(checkpoint)
    G, cfg, ckpt, task = loaded.model, loaded.config, loaded.ckpt, loaded.task
    shards, out = Path(shards), Path(out)
    replicate = bool(replicate_channels and task.model_channels(cfg) > 1)
    explode = bool((ckpt.get("train_config") or {}).get("channels_as_samples", False))
    table, n_channels, scale = _load_rows(shards, split, task, cfg, max_slices, replicate, explode)
    metric_fns = {k: METRICS[k] for k in task.eval_metrics}
    collate = EvalCollate(n_channels, scale)
    rows, examples = [], []
    grid_at = set(np.linspace(0, table.num_rows - 1, min(n_grids, table.num_rows)).round().astype(int).tolist())
    with torch.no_grad():
        for start in range(0, table.num_rows, batch_size):
            part = table.slice(start, batch_size)
            b = collate(table_to_batch(part))
            ids = list(zip(part.column("patient_id").to_pylist(), part.column("slice_index").to_pylist(),
                           part.column("modality").to_pylist()))
            outs = task.eval_outputs(G, b, cfg, replicate)
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
        "kind": task.name, "checkpoint_epoch": ckpt.get("epoch"),
        **({"channels": f"1-channel scans replicated into the model's {cfg.in_channels} inputs, outputs averaged"}
           if replicate else {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    write_tables(rows, result, out)
    write_grids(examples, task.grid, out)
    log.info("eval → %s\n%s", out, (out / "metrics.md").read_text())
    return result
