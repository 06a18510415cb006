"""Ray Train end to end on tiny shards: a 2-worker DDP run writes a loadable checkpoint, rerunning the same
name+storage resumes and continues the epoch count, and a flat validation metric stops the run early."""
import json

import pytest

from medray.models.checkpoint import load_checkpoint, load_generator
from medray.train.options import RunOptions, TrainConfig
from medray.train.run import run_training
from tests.train_shards import write_tiny_shards

TINY = dict(n_channels=1, patch=32, batch_size=2, num_workers=2, val_max_slices=2, val_batch_size=2,
            generator={"width": 8, "depth": 1}, discriminator={"width": 8, "n_layers": 2}, checkpoint_every=1)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_tiny_shards(tmp_path_factory.mktemp("shards"), splits=(("train", 2), ("val", 1)), slices=2)


def test_two_workers_checkpoint_then_resume(ray_session, shards, tmp_path):
    opts = RunOptions(shards=shards, name="tiny", storage=tmp_path, train=TrainConfig(max_epochs=1, **TINY))
    out = run_training(opts)
    assert out.metrics["epoch"] == 0 and out.metrics["step"] == 2  # 4 rows / global batch 2
    model, cfg, ckpt = load_generator(out.checkpoint)
    assert cfg.in_channels == 1 and ckpt["epoch"] == 0 and ckpt["kind"] == "iotgan"
    assert {"g", "d"} <= set(ckpt["optimizers"]) and ckpt["discriminator"]["state_dict"]
    assert out.curves_png.is_file() and out.curves_png.stat().st_size > 1000

    # same name + storage, two more epochs allowed: continues at epoch 1, not from scratch
    again = run_training(RunOptions(shards=shards, name="tiny", storage=tmp_path,
                                    train=TrainConfig(max_epochs=3, **TINY)))
    assert again.metrics["epoch"] == 2 and again.metrics["step"] == 6
    history = json.loads((again.run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert load_checkpoint(again.checkpoint)["epoch"] == 2


def test_flat_metric_stops_early(ray_session, shards, tmp_path):
    # lr=0: G never changes, val PSNR is flat → patience 1 stops after the second epoch
    cfg = TrainConfig(max_epochs=10, patience=1, lr=0.0, **{**TINY, "num_workers": 1})
    out = run_training(RunOptions(shards=shards, name="flat", storage=tmp_path, train=cfg))
    assert out.metrics["stopped_early"] and out.metrics["epoch"] == 1 and out.metrics["best_epoch"] == 0
