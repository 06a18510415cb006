"""Ray Train end to end on ingest's ``tiny_shards`` (4-channel BraTS rows with vitals): a 2-worker DDP run
writes a loadable checkpoint, rerunning the same name+storage resumes and continues the epoch and step
counts, and a flat validation metric stops the run early."""
import json

import pytest

from medray.models.checkpoint import load_checkpoint
from medray.tasks import load
from medray.train.options import RunOptions, TrainConfig
from medray.train.run import run_training
from tests.train_shards import write_tiny_shards

TINY = dict(n_channels=4, patch=32, batch_size=2, num_workers=2, val_max_slices=2, val_batch_size=2,
            generator={"width": 8, "depth": 1}, discriminator={"width": 8, "n_layers": 2}, checkpoint_every=1)


def test_two_workers_checkpoint_then_resume(ray_session, tiny_shards, tmp_path):
    shards = tiny_shards
    opts = RunOptions(shards=shards, name="tiny", storage=tmp_path, train=TrainConfig(max_epochs=1, max_steps=2, **TINY))
    out = run_training(opts)
    assert out.metrics["epoch"] == 0 and out.metrics["step"] == 2
    loaded = load(out.checkpoint)
    model, cfg, ckpt = loaded.model, loaded.config, loaded.ckpt
    assert cfg.in_channels == 4 and ckpt["epoch"] == 0 and ckpt["kind"] == "iotgan"
    assert {"g", "d"} <= set(ckpt["optimizers"]) and ckpt["discriminator"]["state_dict"]
    assert out.curves_png.is_file() and out.curves_png.stat().st_size > 1000

    # same name + storage, one more epoch and two more steps allowed: continues at epoch 1 / step 2
    again = run_training(RunOptions(shards=shards, name="tiny", storage=tmp_path,
                                    train=TrainConfig(max_epochs=2, max_steps=4, **TINY)))
    assert again.metrics["epoch"] == 1 and again.metrics["step"] == 4
    history = json.loads((again.run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert load_checkpoint(again.checkpoint)["epoch"] == 1


def test_flat_metric_stops_early(ray_session, tmp_path):
    # four 1-channel rows written directly (whole epochs stay a few steps); lr=0: G never changes, val PSNR
    # is flat → patience 1 stops after the second epoch
    shards = write_tiny_shards(tmp_path / "shards", splits=(("train", 2), ("val", 1)), slices=2)
    cfg = TrainConfig(max_epochs=10, patience=1, lr=0.0, **{**TINY, "num_workers": 1, "n_channels": 1})
    out = run_training(RunOptions(shards=shards, name="flat", storage=tmp_path, train=cfg))
    assert out.metrics["stopped_early"] and out.metrics["epoch"] == 1 and out.metrics["best_epoch"] == 0


@pytest.mark.slow
def test_pixmed_trains_and_evaluates(ray_session, tmp_path):
    from medray.evaluate.checkpoint import evaluate_checkpoint

    shards = write_tiny_shards(tmp_path / "shards", splits=(("train", 2), ("val", 1), ("test", 1)), slices=2)
    cfg = TrainConfig(model="pixmed", max_epochs=1, **{**TINY, "num_workers": 1, "n_channels": 1,
                                                      "generator": {"width": 8, "d_width": 8, "d_layers": 2}})
    out = run_training(RunOptions(shards=shards, name="pix", storage=tmp_path, train=cfg))
    assert out.metrics["step"] == 2 and "g_adv" in out.metrics
    res = evaluate_checkpoint(out.checkpoint, shards, "test", tmp_path / "eval", n_grids=1)
    assert list(res["methods"]) == ["pixmed"] and set(res["methods"]["pixmed"]) == {"psnr", "psnr_fg", "ssim", "ssim_fg"}
    assert (tmp_path / "eval" / "grid_00.png").is_file()
