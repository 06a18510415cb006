"""Every model kind goes through the same code: KINDS drives train, eval, tune and serve. The baseline SR kind
(one model file + one dict entry) proves it: it trains with `medray train --model baseline`, evaluates beside
bicubic, and is served by the SR deployment's loader and pipeline."""
import numpy as np
import pytest
import torch

from medray import tasks
from medray.config import ConfigError
from medray.pipelines.enhance import EnhancePipeline, enhance_batch
from medray.pipelines.synthesize import synthesize_batch
from tests.train_shards import write_tiny_shards


def test_kinds_and_families():
    assert set(tasks.kinds("sr")) == {"iotgan", "baseline"} and tasks.kinds("synth") == ["pixmed"]
    with pytest.raises(ConfigError, match=r"model='srgan' is not valid; choose one of \['iotgan', 'baseline', 'pixmed'\]"):
        tasks.get("srgan")
    # the baseline has no discriminator section: a sweep key under it is refused by name
    assert tasks.get("baseline").sections()["discriminator"] is None


def test_baseline_builds_without_d_and_ignores_vitals():
    from medray.train.options import TrainConfig

    cfg = TrainConfig(model="baseline", n_channels=1, patch=32, batch_size=2, num_workers=1,
                      generator={"width": 8, "depth": 2})
    parts = tasks.get("baseline").build(cfg)
    assert parts.D is None and parts.loss.cfg.w_adv == 0 and parts.loss.cfg.w_l1 == 1
    lr = torch.rand(2, 1, 16, 16)
    vit = torch.tensor([[72.0, 98.0, 36.8, 0.2], [150.0, 85.0, 39.5, 0.9]])
    a, _, src = enhance_batch(parts.G.eval(), lr, vit)
    b, _, _ = enhance_batch(parts.G, lr, None)
    assert src == "disabled" and torch.equal(a, b) and a.shape == (2, 1, 32, 32)


def test_synthesize_pads_any_size_and_crops_back():
    model, cfg = tasks.get("pixmed").untrained()
    labels = np.zeros((1, 40, 50), np.uint8)
    labels[0, 10:20, 10:30] = 2
    out = synthesize_batch(model.eval(), labels)
    assert out.shape == (1, 1, 40, 50) and 0 <= float(out.min()) and float(out.max()) <= 1


@pytest.mark.slow
def test_baseline_trains_evaluates_and_serves(ray_session, tmp_path):
    from medray.cli import main
    from medray.evaluate.checkpoint import evaluate_checkpoint
    from medray.serve.model_loader import load_served_model

    shards = write_tiny_shards(tmp_path / "shards", splits=(("train", 2), ("val", 1), ("test", 1)), slices=2)
    cfg = tmp_path / "baseline.yaml"
    cfg.write_text("n_channels: 1\nval_max_slices: 2\nval_batch_size: 2\ncheckpoint_every: 1\n"
                   "generator: {width: 8, depth: 2}\n")
    rc = main(["train", "--shards", str(shards), "--model", "baseline", "--name", "base", "--storage",
               str(tmp_path / "runs"), "--config", str(cfg), "--num-workers", "1", "--patch", "32",
               "--batch-size", "2", "--max-epochs", "1"])
    assert rc == 0
    ckpt = next((tmp_path / "runs" / "base").glob("checkpoint_*"))
    loaded = tasks.load(ckpt)
    assert loaded.task.name == "baseline" and "discriminator" not in loaded.ckpt
    res = evaluate_checkpoint(ckpt, shards, "test", tmp_path / "eval", n_grids=1)
    assert res["kind"] == "baseline" and set(res["methods"]) == {"medray", "bicubic", "nearest"}
    served = load_served_model(str(ckpt), "sr", False)
    assert served.kind == "baseline" and served.version.startswith("baseline:")
    sr, alpha, source = EnhancePipeline(served.model)(np.random.default_rng(0).random((2, 1, 16, 16), np.float32))
    assert sr.shape == (2, 1, 32, 32) and source == "disabled"
    with pytest.raises(ConfigError, match="holds a 'baseline'"):
        load_served_model(str(ckpt), "synth", False)
