"""Results table and figures from trial rows (no Ray): measured and paper numbers stay in separate columns."""
import math

from medray.tune.plots import write_plots
from medray.tune.results import markdown_table, write_tables
from medray.train.options import TrainConfig
from medray.tune.space import parse_space

SPACE = {
    "description": "ablation", "paper_source": "IoT-GAN paper, BraTS 2021",
    "variants": {"full": {"label": "full model", "paper": {"psnr": 28.5, "ssim": 0.84}},
                 "no_global_head": {"label": "− global head", "overrides": {"discriminator.global_head": False},
                                    "paper": {"psnr": 26.6, "ssim": 0.78}}},
}


def _row(variant, label, test_psnr, test_ssim, paper):
    row = {"trial_id": f"t_{variant}", "variant": variant, "label": label, "val_psnr": 30.0, "val_ssim": 0.7,
           "test_psnr": test_psnr, "test_ssim": test_ssim, "test_ncc": 0.9, "test_mi": 1.0, "test_sf": 0.02,
           "test_mg": 0.01, "bicubic_psnr": 29.0, "bicubic_ssim": 0.65, "bicubic_ncc": 0.9, "bicubic_mi": 1.0,
           "bicubic_sf": 0.02, "bicubic_mg": 0.01, "iterations": 2, "status": "done", "launches": 1,
           "best_checkpoint": f"/runs/{variant}/checkpoint", "data": "demo shards"}
    row.update({f"paper_{k}": v for k, v in paper.items()})
    return row


def test_table_keeps_paper_numbers_out_of_the_measured_columns(tmp_path):
    space = parse_space(SPACE, tmp_path / "abl.yaml", TrainConfig)
    rows = [_row("full", "full model", 31.25, 0.812, {"psnr": 28.5, "ssim": 0.84}),
            _row("no_global_head", "− global head", math.nan, math.nan, {"psnr": 26.6, "ssim": 0.78})]
    rows[1]["status"] = "error"
    md = markdown_table(rows, space)
    head, _, full, ablated = md.strip().splitlines()[-4:]
    cols = [c.strip() for c in head.strip("|").split("|")]
    cells = dict(zip(cols, [c.strip() for c in ablated.strip("|").split("|")]))
    assert cells["test PSNR"] == "–" and cells["paper (BraTS 2021) PSNR"] == "26.600"  # never filled from the paper
    full_cells = dict(zip(cols, [c.strip() for c in full.strip("|").split("|")]))
    assert full_cells["test PSNR"] == "31.250" and full_cells["Δ PSNR vs bicubic"] == "+2.250"
    assert full_cells["Δ PSNR vs full model"] == "+0.000"
    assert "not measured by medray" in md and "demo shards" in md and "bicubic on the same test split" in md
    csv_path, md_path = write_tables(rows, space, tmp_path)
    assert csv_path.read_text().count("\n") == 3 and md_path.read_text() == md
    (png,) = write_plots(rows, space, tmp_path)
    assert png.name == "abl_ablation.png" and png.read_bytes()[:4] == b"\x89PNG"


def test_params_plot_for_a_weight_sweep(tmp_path):
    space = parse_space({"params": {"loss.w_l1": {"loguniform": [0.1, 10.0]},
                                    "discriminator.tie_beta": {"choice": [True, False]}}},
                        tmp_path / "w.yaml", TrainConfig)
    rows = [{"trial_id": f"t{i}", "loss.w_l1": 0.1 * 3**i, "discriminator.tie_beta": bool(i % 2),
             "val_psnr": 28.0 + i, "val_ssim": 0.7, "test_psnr": math.nan, "test_ssim": math.nan,
             "test_ncc": math.nan, "test_mi": math.nan, "test_sf": math.nan, "test_mg": math.nan,
             "status": "unfinished", "launches": 1, "best_checkpoint": "", "data": ""} for i in range(4)]
    md = markdown_table(rows, space)
    assert "| discriminator.tie_beta | loss.w_l1 | medray (data used) val PSNR |" in md and "paper" not in md
    (png,) = write_plots(rows, space, tmp_path)
    assert png.name == "w_params.png" and png.stat().st_size > 1000


def test_paper_columns_name_the_papers_own_dataset():
    from types import SimpleNamespace

    from pathlib import Path

    from medray.tune.results import paper_dataset
    from medray.tune.space import load_space

    assert paper_dataset(SimpleNamespace(paper_source="IoT-GAN paper, BraTS 2021 (PSNR dB / SSIM)")) == "BraTS 2021"
    pixmed = load_space(Path(__file__).parents[1] / "tune_spaces" / "ablation_pixmed.yaml")
    assert paper_dataset(pixmed) == "Kaggle brain-tumour MRI refs [43] and [39]"
