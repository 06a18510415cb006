"""Turn a training checkpoint into a shipped weights file + its PROVENANCE.json.

Keeps what serving needs (kind, generator config, the (EMA) generator weights, metrics) and drops the training
state (discriminator, optimizers, raw weights, history): that, plus fp16 storage, keeps each file well under the
repo's ~10 MB budget. ``medray.tasks.load`` copies the fp16 tensors into the fp32 model.
"""
from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import torch

from medray.models.checkpoint import load_checkpoint, save_checkpoint
from medray.weights import provenance_file


def git_commit(repo: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo or Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict:
    import os

    return {"machine": platform.machine(), "processor": platform.processor() or None, "cpus": os.cpu_count(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "python": platform.python_version()}


def export_weights(checkpoint: str | Path, out: str | Path, provenance: dict, fp16: bool = True) -> Path:
    """Write ``out`` (a .pt file) from ``checkpoint`` and ``out.PROVENANCE.json`` from ``provenance`` (+ the
    checkpoint's own training facts: epoch, step, train config, metrics, size)."""
    ckpt = load_checkpoint(checkpoint)
    sd = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    facts = {"epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
             "train_config": ckpt.get("train_config"), "val_metrics": ckpt.get("metrics")}
    save_checkpoint(out, kind=ckpt["kind"], config=ckpt["config"], state_dict=sd, metrics=ckpt.get("metrics"),
                    extra={"dtype": "float16" if fp16 else "float32", "ema": "generator_raw" in ckpt,
                           "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
                           # eval scores a channels_as_samples model per channel, as it was trained
                           "train_config": ckpt.get("train_config")})
    record = {"file": out.name, "kind": ckpt["kind"], "bytes": out.stat().st_size,
              "dtype": "float16" if fp16 else "float32", "ema": "generator_raw" in ckpt, **facts, **provenance}
    provenance_file(out).write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    return out
