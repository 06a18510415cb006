"""PNG figures of a sweep: bars per ablation variant (with the bicubic line), scatter of the metric against
each swept parameter. Measured numbers and the papers' reported numbers are drawn in separate panels."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from medray.tune.results import bicubic_reference, paper_dataset
from medray.tune.space import SweepSpace


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def _limits(ax, values: list[float]) -> None:
    """Zoom the y axis to the bars (PSNR bars from 0 hide every difference), padding at least 5 %."""
    finite = [v for v in values if not math.isnan(v)]
    if finite:
        lo, hi = min(finite), max(finite)
        pad = max((hi - lo) * 0.3, abs(hi) * 0.05, 1e-3)
        ax.set_ylim(lo - pad, hi + pad)


def _bars(ax, labels: list[str], values: list[float], **style) -> None:
    bars = ax.bar(range(len(labels)), [0.0 if math.isnan(v) else v for v in values], **style)
    ax.bar_label(bars, ["n/a" if math.isnan(v) else f"{v:.3g}" for v in values], fontsize=7)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)


def ablation_plot(rows: list[dict[str, Any]], space: SweepSpace, path: Path) -> Path:
    """Test-split PSNR/SSIM per variant with bicubic (same split) as a line; paper numbers in their own panels.
    Only test-split values are drawn, so every bar and the bicubic line measure the same slices."""
    plt = _pyplot()
    labels = [r.get("label", r["variant"]) for r in rows]
    has_paper = any(f"paper_{m}" in r for r in rows for m in ("psnr", "ssim"))
    ref = bicubic_reference(rows)
    metrics = ("psnr", "ssim")
    ncols = 2 if has_paper else 1
    fig, axes = plt.subplots(len(metrics), ncols, figsize=(6.5 * ncols, 3.4 * len(metrics) + 1.2), squeeze=False)
    for i, m in enumerate(metrics):
        ax = axes[i][0]
        vals = [r.get(f"test_{m}", math.nan) for r in rows]
        _bars(ax, labels, vals, color="tab:blue")
        if m in ref:
            ax.axhline(ref[m], color="tab:red", ls="--", label=f"bicubic {ref[m]:.3f}")
            ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
        _limits(ax, vals + ([ref[m]] if m in ref else []))
        ax.set_title(f"medray (data used): test {m.upper()}", fontsize=10)
        if has_paper:
            ax = axes[i][1]
            pv = [r.get(f"paper_{m}", math.nan) for r in rows]
            _bars(ax, labels, pv, color="tab:gray", hatch="//")
            _limits(ax, pv)
            ax.set_title(f"paper ({paper_dataset(space)}), reported {m.upper()} — not measured here", fontsize=10)
    fig.suptitle(f"{space.name}: {space.description}"[:110], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def params_plot(rows: list[dict[str, Any]], space: SweepSpace, path: Path) -> Path:
    """One scatter per swept parameter: the sweep metric of every trial against that parameter's value."""
    plt = _pyplot()
    keys = list(space.params)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.4), squeeze=False)
    metric = space.metric
    ys = [r.get(metric, math.nan) for r in rows]
    for ax, key in zip(axes[0], keys):
        xs = [r.get(key) for r in rows]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            ax.scatter(xs, ys, c="tab:blue")
            if space.params[key].kind == "loguniform":
                ax.set_xscale("log")
        else:  # categorical (bools, strings): one column per option
            cats = sorted({str(x) for x in xs})
            ax.scatter([cats.index(str(x)) for x in xs], ys, c="tab:blue")
            ax.set_xticks(range(len(cats)), cats)
        ax.set_xlabel(key, fontsize=9)
        ax.set_ylabel(metric, fontsize=9)
    fig.suptitle(f"{space.name}: {metric} per trial (medray, data used)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(rows: list[dict[str, Any]], space: SweepSpace, out: Path) -> list[Path]:
    if not rows:
        return []
    paths = []
    if any("variant" in r for r in rows):
        paths.append(ablation_plot(rows, space, out / f"{space.name}_ablation.png"))
    if space.params:
        paths.append(params_plot(rows, space, out / f"{space.name}_params.png"))
    return paths
