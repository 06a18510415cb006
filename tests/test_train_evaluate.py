"""``evaluate_checkpoint`` writes metrics.json (DESIGN layout), CSV, markdown and grids, and refuses
checkpoint/shard mismatches with typed errors."""
import json

import numpy as np
import pytest
import torch

from medray.config import InputError
from medray.models.checkpoint import save_checkpoint
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.evaluate.checkpoint import evaluate_checkpoint
from medray.pipelines.enhance import upsample_classic as upsample
from tests.train_shards import write_tiny_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_tiny_shards(tmp_path_factory.mktemp("shards"), splits=(("train", 1), ("test", 1)), slices=3,
                             scales=(2,))


def _ckpt(path, **kw):
    cfg = SRGeneratorConfig(**{"in_channels": 1, "scale": 2, "width": 8, "depth": 1, **kw})
    torch.manual_seed(0)
    return save_checkpoint(path, kind="iotgan", config=cfg, state_dict=build_generator(cfg).state_dict(),
                           metrics={}, extra={"epoch": 3})


def test_eval_writes_tables_and_grids(shards, tmp_path):
    ck = _ckpt(tmp_path / "ck")
    res = evaluate_checkpoint(ck, shards, "test", tmp_path / "out", n_grids=2)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved == res
    assert {"scale", "split", "n_slices", "data", "methods"} <= set(saved)
    assert saved["scale"] == 2 and saved["split"] == "test" and saved["n_slices"] == 3
    assert set(saved["methods"]) == {"medray", "bicubic", "nearest"}
    for m in saved["methods"].values():
        assert set(m) == {"psnr", "psnr_fg", "ssim", "ssim_fg", "ncc", "mi", "sf", "mg"}
        assert all(np.isfinite(v["mean"]) and v["std"] >= 0 for v in m.values())
    # smooth images, box-downsampled: bicubic must beat nearest in PSNR
    assert saved["methods"]["bicubic"]["psnr"]["mean"] > saved["methods"]["nearest"]["psnr"]["mean"]
    csv_lines = (tmp_path / "out" / "per_slice.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 3 * 3 and csv_lines[0].startswith("patient,slice,modality,method,psnr")
    assert "| bicubic |" in (tmp_path / "out" / "metrics.md").read_text()
    grids = sorted((tmp_path / "out").glob("grid_*.png"))
    assert len(grids) == 2 and all(g.stat().st_size > 5000 for g in grids)


def test_eval_refuses_mismatches(shards, tmp_path):
    with pytest.raises(InputError, match="channel_mismatch"):
        evaluate_checkpoint(_ckpt(tmp_path / "c4", in_channels=4), shards, "test", tmp_path / "o1")
    with pytest.raises(InputError, match="scale_mismatch.*lr_x4"):
        evaluate_checkpoint(_ckpt(tmp_path / "s4", scale=4), shards, "test", tmp_path / "o2")
    ck = _ckpt(tmp_path / "ok")
    with pytest.raises(InputError, match="missing_split"):
        evaluate_checkpoint(ck, shards, "val", tmp_path / "o3")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty_shards"):
        evaluate_checkpoint(ck, tmp_path / "empty", "test", tmp_path / "o4")


def test_bicubic_baseline_is_plain_interpolate():
    lr = torch.rand(1, 1, 8, 8)
    up = upsample(lr, 2, "bicubic")
    assert up.shape == (1, 1, 16, 16) and 0 <= up.min() and up.max() <= 1
    assert torch.equal(upsample(lr, 2, "nearest")[..., ::2, ::2], lr)


def test_replicated_channels_probe(shards, tmp_path):
    res = evaluate_checkpoint(_ckpt(tmp_path / "c4", in_channels=4), shards, "test", tmp_path / "o", n_grids=1,
                              replicate_channels=True)
    assert res["n_slices"] == 3 and "replicated" in res["channels"]
    assert np.isfinite(res["methods"]["medray"]["psnr"]["mean"])
