"""The SR recipe pieces, each tiny and seeded: EMA of G, reduce-on-plateau LR, --preset recipes, the acquisition
degradations, and shipped weights (fp16 export + provenance + the default-checkpoint lookup)."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from medray.config import ConfigError
from medray.imaging import degrade as D
from medray.train.ema import EMA
from medray.train.options import config_from_sources
from medray.train.presets import PRESETS
from medray.train.schedule import PlateauSchedule


def test_ema_tracks_weights_with_warmup_decay():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    ema = EMA(net, decay=0.9)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0): a young average follows closely
    before = ema.module.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.module.weight, before + 0.9)  # 0.1·old + 0.9·new
    for _ in range(200):
        ema.update(net)
    assert torch.allclose(ema.module.weight, net.weight, atol=1e-4)
    assert not any(p.requires_grad for p in ema.module.parameters())
    copy = EMA(nn.Linear(3, 2), decay=0.9)
    copy.load_state_dict(ema.state_dict())
    assert copy.num_updates == 201 and torch.equal(copy.module.weight, ema.module.weight)


def test_plateau_schedule_halves_lr_after_patience_and_ignores_nan():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1e-3)
    sched = PlateauSchedule([opt, None], factor=0.5, patience=2, min_lr=1e-5)
    for v in (30.0, 31.0, float("nan"), 31.0, 31.0):
        sched.step(v)
    assert sched.lr == pytest.approx(1e-3)  # two bad epochs are within patience; NaN never counts
    sched.step(30.5)
    assert sched.lr == pytest.approx(5e-4)
    again = PlateauSchedule([torch.optim.Adam([p], lr=1e-3)], factor=0.5, patience=2, min_lr=1e-5)
    again.load_state_dict(sched.state_dict())
    assert again.scheds[0].best == 31.0
    off = PlateauSchedule([opt], factor=0.5, patience=0, min_lr=0)
    off.step(1.0), off.step(0.0)
    assert not off.enabled


def test_presets_yaml_then_flags_override(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("patch: 32\nloss: {w_ssim: 0.5}\n")
    cfg = config_from_sources(y, {"model": "iotgan", "batch_size": 8}, preset="fast")
    assert (cfg.patch, cfg.batch_size, cfg.ema_decay, cfg.warmup_epochs) == (32, 8, PRESETS["fast"].ema_decay, 20)
    assert cfg.loss == {"w_adv": 1e-3, "perceptual": "none", "w_ssim": 0.5} and cfg.channels_as_samples
    paper = config_from_sources(None, {"model": "iotgan"}, preset="paper")
    assert (paper.patch, paper.batch_size, paper.max_epochs, paper.patience, paper.lr) == (256, 32, 500, 20, 2e-4)
    with pytest.raises(ConfigError, match="fast"):
        config_from_sources(None, {"model": "iotgan"}, preset="slow")
    with pytest.raises(ConfigError, match="ema_decay"):
        config_from_sources(None, {"model": "iotgan", "ema_decay": 1.0})


def _hr(seed=0, n=32):
    rng = np.random.default_rng(seed)
    img = np.zeros((1, n, n), np.float32)
    img[0, 8:24, 8:24] = 0.8
    return np.clip(img + rng.normal(0, 0.01, img.shape).astype(np.float32), 0, 1)


def test_standard_profile_is_unchanged_and_acquisition_is_recorded():
    hr = _hr()
    a, pa = D.degrade(hr, 2, np.random.default_rng(1), heart_rate=100, mobility=0.5)
    b, pb = D.degrade(hr, 2, np.random.default_rng(1), heart_rate=100, mobility=0.5, modality="MR",
                      profile="standard")
    assert np.array_equal(a, b) and pa == pb
    mr, pm = D.degrade(hr, 2, np.random.default_rng(1), modality="MR", profile="acquisition")
    assert {"thick_slice_factor", "thick_slice_axis", "kspace_keep"} <= set(pm) and mr.shape == (1, 16, 16)
    ct, pc = D.degrade(hr, 2, np.random.default_rng(1), modality="CT", profile="acquisition")
    assert "ct_noise_std" in pc and "kspace_keep" not in pc
    with pytest.raises(ValueError, match="standard"):
        D.degrade(hr, 2, np.random.default_rng(1), profile="mri")
    _, rec = D.degrade_all(hr, (2,), 0, "s", 3, modality="CT", profile="acquisition")
    assert json.loads(rec)["profile"] == "acquisition"


def test_thick_slice_kspace_and_ct_noise_do_what_they_say():
    hr = _hr()
    thick = D.thick_slice(hr, 3, axis=0)
    assert np.allclose(thick[0, :, 16], np.convolve(np.pad(hr[0, :, 16], 1, mode="edge"), np.ones(3) / 3, "valid"),
                       atol=1e-6)
    assert np.array_equal(D.thick_slice(hr, 1, 0), hr)
    assert np.allclose(D.kspace_truncate(hr, 1.0), hr)
    cut = D.kspace_truncate(hr, 0.5)
    spec = lambda x: np.abs(np.fft.fftshift(np.fft.fft2(x[0])))  # noqa: E731
    # the outer rows of k-space are gone (the magnitude image puts a little back)
    assert spec(cut)[:4].sum() < 0.2 * spec(hr)[:4].sum()
    flat = np.full((1, 64, 64), 0.5, np.float32)
    noisy = D.ct_noise(flat, 0.02, np.random.default_rng(0))
    assert (noisy - flat).std() == pytest.approx(0.02, rel=1e-3)
    d = noisy[0] - 0.5
    assert np.corrcoef(d[:, :-1].ravel(), d[:, 1:].ravel())[0, 1] > 0.2  # correlated, as reconstruction makes it


def test_export_fp16_provenance_and_default_lookup(tmp_path, monkeypatch):
    import medray.weights as W
    from medray.models.checkpoint import save_checkpoint
    from medray.models.sr_generator import SRGeneratorConfig, build_generator
    from medray.tasks import load
    from medray.weights.export import export_weights

    torch.manual_seed(0)
    cfg = SRGeneratorConfig(width=8, depth=1)
    G = build_generator(cfg).eval()
    ckpt = save_checkpoint(tmp_path / "run", kind="iotgan", config=cfg, state_dict=G.state_dict(),
                           metrics={"val_psnr": 30.0},
                           extra={"generator_raw": G.state_dict(), "train_config": {"channels_as_samples": True},
                                  "optimizers": {}, "epoch": 3})
    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path / "weights")
    assert W.default_checkpoint("sr", 2) is None and W.checkpoint_or_default(None) is None
    out = export_weights(ckpt, W.weights_file("iotgan", 2), {"command": "medray train ...", "data": ["x"]})
    assert W.default_checkpoint("sr", 2) == out and W.checkpoint_or_default("given.pt") == "given.pt"
    prov = W.provenance(out)
    assert prov["ema"] and prov["dtype"] == "float16" and prov["epoch"] == 3 and prov["command"].startswith("medray")
    loaded = load(out)
    assert "optimizers" not in loaded.ckpt and loaded.ckpt["train_config"]["channels_as_samples"]
    assert next(loaded.model.parameters()).dtype == torch.float32
    lr = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded.model(lr), G(lr), atol=2e-3)
    with pytest.raises(ConfigError, match="sr"):
        W.default_checkpoint("segment", 2)


def test_eval_and_serve_fall_back_to_shipped_weights(tmp_path, monkeypatch, capsys):
    import medray.weights as W
    from medray.cli import main
    from medray.serve.stack import _app_args

    monkeypatch.setattr(W, "WEIGHTS_DIR", tmp_path)  # an install that ships no SR weights
    monkeypatch.delenv("MEDRAY_CHECKPOINT", raising=False)
    assert main(["eval", "--shards", str(tmp_path), "--out", str(tmp_path / "o"), "--scale", "4"]) == 2
    assert "iotgan_x4.pt" in capsys.readouterr().err
    cfg = {"applications": [{"args": {"insecure_dev": True}}]}
    with pytest.raises(ConfigError, match="no sr checkpoint"):
        _app_args(cfg)
    (tmp_path / "iotgan_x2.pt").write_bytes(b"x")  # present: the driver-side check passes on the shipped file
    assert _app_args(cfg).checkpoint is None


def test_best_checkpoint_is_the_highest_val_psnr(tmp_path):
    from medray.models.checkpoint import save_checkpoint
    from medray.models.sr_generator import SRGeneratorConfig
    from medray.weights.export import best_checkpoint

    cfg = SRGeneratorConfig(width=8, depth=1)
    for name, v in (("checkpoint_a", 30.0), ("checkpoint_b", 31.5), ("checkpoint_c", 29.0)):
        save_checkpoint(tmp_path / name, kind="iotgan", config=cfg, state_dict={}, metrics={"val_psnr": v})
    assert best_checkpoint(tmp_path).name == "checkpoint_b"
    with pytest.raises(FileNotFoundError):
        best_checkpoint(tmp_path / "none")
