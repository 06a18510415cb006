"""Size report: every model listed, FLOPs counted by torch's FlopCounterMode, ghost U-Net ≤ 0.55× plain."""
import torch

from medray.models.summary import count_flops, format_summary, model_summary
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


def test_flop_counter_counts_conv_as_two_macs():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    assert count_flops(conv, torch.rand(1, 3, 16, 16)) == 2 * 3 * 8 * 9 * 16 * 16


def test_summary_rows_and_table():
    rows = {r["name"]: r for r in model_summary()}
    assert set(rows) == {"iotgan_generator_x2", "iotgan_generator_x4", "baseline_sr_x2", "baseline_sr_x4",
                         "hybrid_discriminator", "ghost_unet", "ghost_unet_encoder", "plain_unet256"}
    for r in rows.values():
        assert r["params"] > 0 and r["gflops"] > 0 and abs(r["fp32_mb"] - r["params"] * 4 / 2**20) < 1e-2
    assert rows["iotgan_generator_x2"]["input"] == "1x1x128x128" and rows["iotgan_generator_x4"]["input"] == "1x1x64x64"
    assert rows["baseline_sr_x2"]["input"] == "1x1x128x128"
    assert rows["baseline_sr_x2"]["gflops"] < rows["iotgan_generator_x2"]["gflops"]  # the cheap reference
    assert rows["plain_unet256"]["params"] == 54_410_881  # pix2pix U-Net-256 with 4 mask channels → 1 image channel
    assert rows["ghost_unet"]["params"] <= 0.55 * rows["plain_unet256"]["params"]
    assert rows["ghost_unet"]["gflops"] <= 0.55 * rows["plain_unet256"]["gflops"]
    # the paper's encoder-only ghost saves far less: the decoder holds most of the weights
    assert 0.7 * rows["plain_unet256"]["params"] < rows["ghost_unet_encoder"]["params"] < rows["plain_unet256"]["params"]
    table = format_summary(list(rows.values()))
    assert "ghost_unet" in table and "54,410,881" in table and len(table.splitlines()) == 2 + len(rows)
