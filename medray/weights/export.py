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


def best_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint folder of a Ray Train run with the highest validation PSNR (of the EMA, when kept)."""
    found = []
    for d in sorted(Path(run_dir).glob("checkpoint_*")):
        if (d / "medray.pt").is_file():
            found.append((float(load_checkpoint(d).get("metrics", {}).get("val_psnr", float("-inf"))), d))
    if not found:
        raise FileNotFoundError(f"no checkpoint_*/medray.pt under {run_dir}")
    return max(found)[1]


def train_sources(corpus_manifest: str | Path) -> list[dict]:
    """The TRAIN-role volumes of a real-scan corpus manifest (medray demo-data --source real)."""
    m = json.loads(Path(corpus_manifest).read_text())
    return [{k: v[k] for k in ("source", "family", "modality", "origin", "licence", "shape_ras", "voxel_mm") if k in v}
            for v in m.get("volumes", []) if v.get("role") == "train"]


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="export the best checkpoint of a run as shipped weights")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--command", required=True, help="the training command(s), as run")
    ap.add_argument("--corpus-manifest", type=Path, help="manifest.json of the real-scan corpus trained on")
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args(argv)
    ckpt = best_checkpoint(args.run_dir)
    history = load_checkpoint(ckpt).get("history", [])
    prov = {"command": args.command, "checkpoint": str(ckpt), "commit": git_commit(), "hardware": hardware(),
            "wall_time_s": round(sum(h.get("epoch_s", 0.0) for h in history), 1), "epochs_trained": len(history),
            "data_sources": train_sources(args.corpus_manifest) if args.corpus_manifest else None,
            "notes": args.note}
    out = export_weights(ckpt, args.out, prov)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB from {ckpt}")


if __name__ == "__main__":
    main()
