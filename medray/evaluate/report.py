"""Evaluation outputs: mean ± std summaries, per-slice CSV, a markdown table and PNG comparison grids."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def summarise(rows: list[dict], methods: list[str], metric_names: list[str]) -> dict:
    """{method: {metric: {"mean", "std"}}} over the rows of each method (population std)."""
    out = {}
    for method in methods:
        sel = [r for r in rows if r["method"] == method]
        out[method] = {}
        for m in metric_names:
            v = np.array([r[m] for r in sel], dtype=np.float64)
            v = v[np.isfinite(v)]
            out[method][m] = {"mean": float(v.mean()) if v.size else float("nan"),
                              "std": float(v.std()) if v.size else float("nan")}
    return out


def write_tables(rows: list[dict], result: dict, out: Path) -> None:
    with open(out / "per_slice.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    methods = result["methods"]
    names = list(next(iter(methods.values())))
    lines = [f"Evaluation on split `{result['split']}` ({result['n_slices']} slices, {result['data']}"
             + (f", ×{result['scale']}" if result["scale"] else "") + "); mean ± std per slice.", "",
             "| method | " + " | ".join(n.upper() for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for method, vals in methods.items():
        lines.append(f"| {method} | " + " | ".join(f"{vals[n]['mean']:.4f} ± {vals[n]['std']:.4f}" for n in names) + " |")
    (out / "metrics.md").write_text("\n".join(lines) + "\n")


def write_grids(examples: list[dict], panels_of, out: Path) -> list[Path]:
    """One PNG per example, first channel; ``panels_of(example)`` (the kind's ``Task.grid``) names the panels,
    e.g. LR | bicubic | medray | HR | |error| (SR) or mask | generated | real | |error| (synthesis). Each image
    panel that is not the reference, the input or an error map is titled with its PSNR against the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medray.metrics import psnr

    paths = []
    for k, ex in enumerate(examples):
        panels = panels_of(ex)
        ref = next(img for name, img in panels if name in ("HR", "real"))
        titles = {name: psnr(img, ref, 1.0) for name, img in panels
                  if name not in ("LR", "HR", "real", "mask") and not name.startswith("|")}
        fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9))
        for ax, (name, img) in zip(axes, panels):
            is_err = name.startswith("|")
            ax.imshow(img, cmap="magma" if is_err else "gray", vmin=0, vmax=0.25 if is_err else (None if name == "mask" else 1),
                      interpolation="nearest")
            ax.set_title(f"{name}\n{titles[name]:.2f} dB" if name in titles else name, fontsize=8)
            ax.axis("off")
        fig.suptitle(f"slice {ex['id']}", fontsize=8)
        fig.tight_layout()
        p = out / f"grid_{k:02d}.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        paths.append(p)
    return paths
