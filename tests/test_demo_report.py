"""The report shows what the stages wrote, inlines its images, and labels the papers' figures as the papers'."""
import json

import numpy as np
from PIL import Image

from medray.demo.client import AlphaRecord, plot_alpha_vs_vitals, write_alpha_csv
from medray.demo.report import ReportInputs, write_report


def _png(path, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(path)
    return path


def test_report_is_self_contained_and_honest(tmp_path):
    metrics = {"scale": 2, "split": "test", "n_slices": 7, "data": "demo (MNI152 + synthetic lesions)",
               "methods": {"medray": {"psnr": {"mean": 31.25, "std": 1.5}, "ssim": {"mean": 0.91, "std": 0.02}},
                           "bicubic": {"psnr": {"mean": 28.5, "std": 1.1}}}}
    mpath = tmp_path / "metrics.json"
    mpath.write_text(json.dumps(metrics))
    recs = [AlphaRecord("P1", 0.2, "2026-01-01T00:00:00Z", 70, 98, 36.8, 0.1, 12.0),
            AlphaRecord("P2", 0.7, "2026-01-01T00:00:01Z", 120, 89, 38.9, 0.8, 11.0)]
    plot = plot_alpha_vs_vitals(recs, tmp_path / "alpha.png")
    table = write_alpha_csv(recs, tmp_path / "alpha.csv")
    inp = ReportInputs(out_dir=tmp_path / "report", eval_metrics=mpath, eval_grids=[_png(tmp_path / "g.png", 0)],
                       alpha_plot=plot, alpha_csv=table,
                       classifier={"ours": {"real only": 81.0, "real + synthetic": 84.0}, "description": "d"},
                       stages=[{"name": "ingest", "status": "ok", "seconds": 3.2, "detail": "90 slices"}])
    page = write_report(inp).read_text()
    assert "31.25 ± 1.5" in page and "28.5 ± 1.1" in page
    assert "demo (MNI152 + synthetic lesions)" in page
    assert page.count("data:image/png;base64,") == 2  # grid + alpha plot inlined, no external files
    assert "src=\"http" not in page
    assert "99.07" in page and "paper (Kaggle brain-tumour MRI, PixMed refs [43], [39])" in page and "medray (demo data)" in page
    assert "0.7" in page and "P2" in page
    assert "Downstream classifier" in page and "ablation" not in page.lower()


def test_report_says_what_is_missing(tmp_path):
    page = write_report(ReportInputs(out_dir=tmp_path)).read_text()
    assert "not produced in this run" in page
    assert "no served requests recorded" in page
