"""The recipe inside a real Ray Train run: with ema_decay the checkpoint's state_dict is the EMA (what eval and
serve load) and generator_raw the trained weights; a rerun resumes both and the LR schedule's state."""
from medray.models.checkpoint import load_checkpoint
from medray.train.options import RunOptions, TrainConfig
from medray.train.run import run_training
from tests.train_shards import write_tiny_shards

TINY = dict(n_channels=1, patch=32, batch_size=2, num_workers=1, val_max_slices=2, val_batch_size=2,
            generator={"width": 8, "depth": 1}, discriminator={"width": 8, "n_layers": 2}, checkpoint_every=1,
            ema_decay=0.9, lr_patience=1, lr_factor=0.5, warmup_epochs=1)


def test_ema_and_plateau_state_survive_resume(ray_session, tmp_path):
    shards = write_tiny_shards(tmp_path / "shards", splits=(("train", 2), ("val", 1)), slices=2)
    out = run_training(RunOptions(shards=shards, name="ema", storage=tmp_path,
                                  train=TrainConfig(max_epochs=1, max_steps=2, **TINY)))
    first = load_checkpoint(out.checkpoint)
    assert first["ema_updates"] == 2 and len(first["lr_schedule"]) == 2  # G and D schedules
    k = "head.weight"
    assert not (first["state_dict"][k] == first["generator_raw"][k]).all()  # the EMA lags the trained weights
    again = run_training(RunOptions(shards=shards, name="ema", storage=tmp_path,
                                    train=TrainConfig(max_epochs=2, max_steps=4, **TINY)))
    second = load_checkpoint(again.checkpoint)
    assert second["epoch"] == 1 and second["ema_updates"] == 4
    assert second["lr_schedule"][0]["last_epoch"] == 2 and "lr" in second["history"][-1]
