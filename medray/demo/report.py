"""The demo report: one self-contained HTML page (images inlined) built only from artefacts on disk.

Every number on the page is read from a file a stage wrote (metrics.json, CSVs, summaries); nothing is typed in
here except the papers' published figures, which are always labelled as the papers'.
"""
from __future__ import annotations

import base64
import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Published figures, shown beside ours and labelled as the papers' (never as medray's).
# PixMed's figures come from two Kaggle brain-tumour MRI datasets (the paper's refs [43] and [39]), not BraTS.
PIXMED_PAPER_DATA = "Kaggle brain-tumour MRI, PixMed refs [43], [39]"
PAPER_CLASSIFIER = {"DenseNet201 on real + PixMed synthetic (paper)": 99.07,
                    "DenseNet201 on real + pix2pix synthetic (paper)": 97.87}
METRIC_ORDER = ("psnr", "ssim", "ncc", "mi", "sf", "mg")
METRIC_HELP = {"psnr": "dB, higher is better", "ssim": "higher is better", "ncc": "higher is better",
               "mi": "mutual information (bits), higher is better", "sf": "spatial frequency (sharpness)",
               "mg": "mean gradient (sharpness)"}


@dataclass
class ReportInputs:
    """Paths of what the stages produced; any may be missing and the page says so."""

    out_dir: Path
    eval_metrics: Path | None = None  # medray eval metrics.json
    eval_grids: list[Path] = field(default_factory=list)
    loss_curves: list[tuple[str, Path]] = field(default_factory=list)  # (caption, png)
    alpha_plot: Path | None = None
    alpha_csv: Path | None = None
    model_summary: list[dict[str, Any]] = field(default_factory=list)
    ablation_md: Path | None = None
    classifier: dict[str, Any] | None = None
    synth_images: list[Path] = field(default_factory=list)
    data_manifest: Path | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)  # name, seconds, status, detail
    realscan_metrics: Path | None = None  # eval on real scans never seen in training


def _img(path: Path, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    w = f' style="max-width:{width}px"' if width else ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"{w}>'


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(stat: Any) -> str:
    if isinstance(stat, dict) and "mean" in stat:
        return f"{stat['mean']:.4g} ± {stat.get('std', 0.0):.2g}"
    return "—" if stat is None else str(stat)


def metrics_section(path: Path | None, title: str) -> str:
    if path is None or not Path(path).is_file():
        return f"<h2>{html.escape(title)}</h2><p class=missing>not produced in this run</p>"
    m = json.loads(Path(path).read_text())
    methods = m.get("methods", {})
    rows = [[name] + [_fmt(vals.get(k)) for k in METRIC_ORDER] for name, vals in methods.items()]
    caption = (f"scale ×{m.get('scale')}, split {m.get('split')}, {m.get('n_slices')} slices, "
               f"data: {m.get('data', 'unstated')}")
    legend = "; ".join(f"{k.upper()}: {v}" for k, v in METRIC_HELP.items())
    return (f"<h2>{html.escape(title)}</h2><p>{html.escape(caption)}</p>"
            + _table(["method"] + [k.upper() for k in METRIC_ORDER], rows)
            + f"<p class=small>{html.escape(legend)}. Mean ± std over slices.</p>")


def stages_section(stages: list[dict[str, Any]]) -> str:
    if not stages:
        return ""
    rows = [[s["name"], s.get("status", ""), f"{s.get('seconds', 0):.1f}", s.get("detail", "")]
            if s.get("status") != "pending" else [s["name"], "running", "", "this page"] for s in stages]
    return "<h2>Run summary</h2>" + _table(["stage", "status", "seconds", "detail"], rows)


def data_section(manifest: Path | None) -> str:
    if manifest is None or not Path(manifest).is_file():
        return "<h2>Data used</h2><p class=missing>demo manifest missing</p>"
    m = json.loads(Path(manifest).read_text())
    real = m.get("real", [])
    synthetic = m.get("synthetic", [])
    items = "".join(f"<li><b>real</b>: {html.escape(json.dumps(r) if not isinstance(r, str) else r)}</li>" for r in real)
    items += "".join(f"<li><b>synthetic</b>: {html.escape(json.dumps(s) if not isinstance(s, str) else s)}</li>"
                     for s in synthetic)
    return ("<h2>Data used</h2><p>Real anatomy from scans shipped in PyPI packages; lesions, contrasts, deformations "
            "and vitals drawn on it are synthetic. Results here are on this demo data, not on BraTS.</p>"
            f"<ul>{items}</ul>")


def model_size_section(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = [k for k in ("name", "params", "fp32_mb", "gflops") if any(k in r for r in rows)]
    body = [[r.get(k, "") if not isinstance(r.get(k), float) else f"{r[k]:.3g}" for k in keys] for r in rows]
    return "<h2>Model sizes (at 256×256)</h2>" + _table(keys, body)


def classifier_section(result: dict[str, Any] | None) -> str:
    if not result:
        return "<h2>Downstream classifier (PixMed's claim)</h2><p class=missing>not run</p>"
    rows = [[k, f"{v:.2f} %", "medray (demo data)"] for k, v in result.get("ours", {}).items()]
    rows += [[k, f"{v:.2f} %", f"paper ({PIXMED_PAPER_DATA})"] for k, v in PAPER_CLASSIFIER.items()]
    return ("<h2>Downstream classifier: tumour vs healthy slice</h2>"
            f"<p>{html.escape(result.get('description', ''))}</p>"
            + _table(["training data", "test accuracy", "source"], rows))


def alpha_section(plot: Path | None, table: Path | None) -> str:
    if plot is None or not Path(plot).is_file():
        return "<h2>α vs vitals</h2><p class=missing>no served requests recorded</p>"
    rows = []
    if table and Path(table).is_file():
        with open(table) as f:
            rows = list(csv.reader(f))
    tbl = _table(rows[0], rows[1:]) if rows else ""
    return ("<h2>α vs vitals for the served requests</h2><p>Each point is one real HTTP request to /v1/enhance; "
            "α is the value the server reported in X-Medray-Alpha for that patient's latest streamed vitals.</p>"
            + _img(plot, "alpha vs vitals", 900) + tbl)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{margin-bottom:0}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f5f8}.missing{color:#a33}
.small{font-size:.85em;color:#555}img{max-width:100%;border:1px solid #ddd;margin:4px 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}"""


def write_report(inp: ReportInputs) -> Path:
    """Write ``out_dir/index.html`` and return its path."""
    out = Path(inp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>medray demo report</title><style>{CSS}</style>"
             "</head><body><h1>medray demo report</h1>",
             "<p class=note>Everything below was measured by this run of <code>medray demo</code> on this machine. "
             "Figures quoted from the papers are labelled <i>paper (their dataset)</i>: IoT-GAN's BraTS 2021, PixMed's "
             f"{PIXMED_PAPER_DATA}.</p>",
             stages_section(inp.stages), data_section(inp.data_manifest),
             metrics_section(inp.eval_metrics, "Super-resolution on held-out demo patients")]
    if inp.eval_grids:
        parts.append("<h3>LR | bicubic | medray | HR | |error|</h3>")
        parts += [_img(p, p.stem) for p in inp.eval_grids]
    if inp.realscan_metrics is not None:
        parts.append(metrics_section(inp.realscan_metrics, "Super-resolution on real scans never seen in training"))
    if inp.loss_curves:
        parts.append("<h2>Loss curves</h2>")
        for caption, p in inp.loss_curves:
            parts += [f"<h3>{html.escape(caption)}</h3>", _img(p, caption, 900)]
    parts.append(alpha_section(inp.alpha_plot, inp.alpha_csv))
    if inp.synth_images:
        parts.append("<h2>Synthesised slices (ghost U-Net cGAN, mask → MRI)</h2>")
        parts += [_img(p, p.stem, 600) for p in inp.synth_images]
    parts.append(classifier_section(inp.classifier))
    parts.append(model_size_section(inp.model_summary))
    if inp.ablation_md is not None and Path(inp.ablation_md).is_file():
        parts.append("<h2>Ablation (sweep result)</h2><pre>" + html.escape(Path(inp.ablation_md).read_text()) + "</pre>")
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path
