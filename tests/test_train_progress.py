"""Training progress reaches the driver's console: one line per report with epoch, step, losses, val PSNR and
ETA, even though Ray keeps worker and controller logs off the console (the session fixture, like the demo,
runs with log_to_driver=False)."""
import re

from medray.train.options import RunOptions, TrainConfig
from medray.train.progress import eta_s, format_line, fraction_done
from medray.train.run import run_training
from tests.train_shards import write_tiny_shards

TINY = dict(n_channels=1, patch=32, batch_size=2, num_workers=1, val_max_slices=2, val_batch_size=2,
            generator={"width": 8, "depth": 1}, discriminator={"width": 8, "n_layers": 2}, checkpoint_every=1)


def test_eta_follows_the_limit_that_stops_the_run_first():
    m = {"epoch": 1, "step": 10}
    assert fraction_done(m, 10, None, None, 5.0) == 0.2  # epoch 2 of 10
    assert fraction_done(m, 10, 20, None, 5.0) == 0.5  # step 10 of 20 comes first
    assert fraction_done(m, 10, 20, 10.0, 8.0) == 0.8  # 8 s of a 10 s budget comes first
    assert eta_s(0.5, 30.0) == 30.0 and eta_s(1.0, 30.0) == 0.0 and eta_s(None, 3.0) is None
    line = format_line("run", {"epoch": 1, "step": 10, "g_loss": 0.5, "d_loss": 0.25, "g_pix": 0.1,
                               "val_psnr": 31.234}, 10, 20, None, 30.0)
    assert line.startswith("[medray train] run epoch 2/10 step 10/20 g_loss=0.5000 d_loss=0.2500 g_pix=0.1000")
    assert "val PSNR 31.23 dB" in line and line.endswith("00:30 elapsed, ETA 00:30")


def test_run_training_prints_a_line_per_report(ray_session, tmp_path, capsys):
    shards = write_tiny_shards(tmp_path / "shards", splits=(("train", 2), ("val", 1)), slices=2)
    out = run_training(RunOptions(shards=shards, name="prog", storage=tmp_path,
                                  train=TrainConfig(max_epochs=2, **TINY)))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("[medray train] prog ")]
    assert len(lines) == 2, err
    for epoch, line in enumerate(lines, start=1):
        assert re.search(rf"epoch {epoch}/2 step \d+ g_loss=\d+\.\d{{4}} d_loss=", line), line
        assert re.search(r"val PSNR \d+\.\d\d dB \| \d\d:\d\d elapsed, ETA \d\d:\d\d$", line), line
    assert lines[-1].endswith("ETA 00:00") and out.metrics["epoch"] == 1
