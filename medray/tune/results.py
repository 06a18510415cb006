"""Sweep results → one row per trial → ``results.csv`` and ``results.md``.

The markdown table keeps two sources apart: "medray (data used)" columns hold what this sweep measured on the
shards it was given; the "paper (<its dataset>)" columns hold the numbers the papers report, copied from the space
file, and are never filled from, or mixed into, our measurements. The dataset is read from the space's
``paper_source`` ("<paper>, <dataset> (<what>)"): IoT-GAN's is BraTS 2021, PixMed's two Kaggle brain-tumour sets.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

from medray.tune.space import SweepSpace
from medray.tune.trainable import EVAL_METRICS, TrialSetup, read_starts

MEASURED = ("val_psnr", "val_ssim") + tuple(f"test_{m}" for m in EVAL_METRICS)
BICUBIC = tuple(f"bicubic_{m}" for m in EVAL_METRICS)



def paper_dataset(space) -> str:
    """The dataset named in ``paper_source`` ("<paper>, <dataset> (<what>)"), or the whole source."""
    src = space.paper_source or "paper"
    return src.split(",", 1)[1].split(" (", 1)[0].strip() if "," in src else src

def _best(history: list[float], mode: str) -> float:
    vals = [v for v in history if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return math.nan
    return max(vals) if mode == "max" else min(vals)


def collect_rows(grid, space: SweepSpace, setup: TrialSetup) -> list[dict[str, Any]]:
    """One row per trial of a ``ResultGrid``, in trial-id order (= the order the grid was expanded in)."""
    labels = {v.name: v for v in space.variants}
    rows = []
    for result in grid:
        last = dict(result.metrics or {})
        # a trial that never reported has no metrics: its id is in its folder name (train_trial_<id>_<n>_...)
        m = re.match(r"train_trial_([0-9a-z]+_\d+)", Path(result.path).name)
        trial_id = last.get("trial_id") or (m.group(1) if m else Path(result.path).name)
        config = result.config or {}
        df = result.metrics_dataframe
        row: dict[str, Any] = {"trial_id": trial_id}
        variant = config.get("variant")
        if variant is not None:
            row["variant"] = variant
            row["label"] = labels[variant].label if variant in labels else variant
        for key, value in sorted((config.get("params") or {}).items()):
            row[key] = value
        # val metrics: best value over the trial's reports (the checkpoint kept as best is chosen the same way)
        for name in ("val_psnr", "val_ssim"):
            mode = space.mode if name == space.metric else "max"
            hist = list(df[name]) if df is not None and name in df else [last.get(name, math.nan)]
            row[name] = _best(hist, mode)
        for name in MEASURED[2:] + BICUBIC:
            row[name] = float(last.get(name, math.nan))
        row["iterations"] = int(last.get("training_iteration", 0) or 0)
        row["status"] = "error" if result.error else ("done" if "best_checkpoint" in last else "unfinished")
        row["launches"] = read_starts(Path(setup.evals_dir), trial_id)
        row["best_checkpoint"] = last.get("best_checkpoint", "")
        row["data"] = last.get("test_data", "")
        if variant in labels:
            for k, v in labels[variant].paper.items():
                row[f"paper_{k}"] = v
        rows.append(row)
    rows.sort(key=lambda r: (list(labels).index(r["variant"]) if r.get("variant") in labels else -1, r["trial_id"]))
    return rows


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{digits}g}" if abs(v) < 1e-2 and v != 0 else f"{v:.{digits}f}"
    return str(v)


def _delta(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:+.3f}"


def bicubic_reference(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Bicubic on the same test split: identical for every trial, so take the first trial that evaluated."""
    for r in rows:
        if not math.isnan(r.get("bicubic_psnr", math.nan)):
            return {m: r[f"bicubic_{m}"] for m in EVAL_METRICS}
    return {}


def markdown_table(rows: list[dict[str, Any]], space: SweepSpace) -> str:
    params = sorted({k for r in rows for k in r if k in space.params})
    paper_keys = sorted({k for r in rows for k in r if k.startswith("paper_")})
    data = next((r["data"] for r in rows if r.get("data")), "the shards given to --shards")
    lines = [f"# Sweep `{space.name}` ({space.model})", ""]
    if space.description:
        lines += [space.description, ""]
    lines += [f"medray columns: measured by this sweep on {data} (val = best over the run's validation reports; "
              "test = the best checkpoint on the test split)."]
    lines += ["status: done = trained and evaluated on test; unfinished = stopped by ASHA or interrupted "
              "(`--resume` finishes interrupted trials)."]
    if paper_keys:
        lines += [f"paper columns: reported by {space.paper_source}; not measured by medray and not comparable "
                  "one to one (different data, budget and hardware)."]
    ref = bicubic_reference(rows)
    if ref:
        lines += ["", "bicubic on the same test split: " + ", ".join(f"{m.upper()} {_fmt(v)}" for m, v in ref.items())]
    lines += [""]
    head = (["variant"] if any("variant" in r for r in rows) else []) + params
    head += ["medray (data used) val PSNR", "val SSIM", "test PSNR", "test SSIM", "NCC", "MI", "SF", "MG"]
    if ref:
        head += ["Δ PSNR vs bicubic"]
    # ablations: the first variant (the full model) is what each removal is measured against
    first = space.variants[0].name if space.variants else None
    base_row = next((r for r in rows if first and r.get("variant") == first), None)
    if base_row is not None:
        head += [f"Δ PSNR vs {base_row.get('label', first)}", "Δ SSIM"]
    head += [f"paper ({paper_dataset(space)}) {k[6:].upper()}" for k in paper_keys]
    head += ["status", "best checkpoint"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = ([r.get("label", r["variant"])] if "variant" in r else []) + [_fmt(r.get(k)) for k in params]
        cells += [_fmt(r[k]) for k in MEASURED]
        if ref:
            cells += [_delta(r["test_psnr"] - ref["psnr"])]
        if base_row is not None:
            cells += [_delta(r["test_psnr"] - base_row["test_psnr"]), _delta(r["test_ssim"] - base_row["test_ssim"])]
        cells += [_fmt(r[k]) if k in r else "–" for k in paper_keys]
        cells += [r["status"] + (f" ({r['launches']} launches)" if r["launches"] > 1 else ""),
                  f"`{r['best_checkpoint']}`" if r["best_checkpoint"] else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: list[dict[str, Any]], space: SweepSpace, out: Path) -> tuple[Path, Path]:
    csv_path, md_path = out / "results.csv", out / "results.md"
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    md_path.write_text(markdown_table(rows, space))
    return csv_path, md_path
