"""One GAN step moves the right network only: D's step leaves G untouched (fakes are detached) and G's step
leaves D untouched (D frozen); the warm-up step has no adversarial term."""
import pytest
import torch

from medray import tasks
from medray.train.optimizers import build_optimizers
from medray.train.options import TrainConfig
from medray.train.step import Amp, cgan_train_step, d_step, sr_g_step, sr_train_step

TINY_SR = dict(generator={"width": 8, "depth": 1}, discriminator={"width": 8, "n_layers": 2})


def _snap(m):
    # parameters only: BatchNorm running stats of D follow every forward in train mode (as in pix2pix)
    return {k: v.detach().clone() for k, v in m.named_parameters()}


def _changed(before, m):
    after = dict(m.named_parameters())
    return {k for k, v in before.items() if not torch.equal(v, after[k])}


def _sr_batch(n_channels=1, scale=2, patch=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(2, n_channels, patch, patch, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, scale)
    vitals = torch.tensor([[72.0, 98.0, 36.8, 0.2], [float("nan")] * 4])
    return {"lr": lr, "hr": hr, "vitals": vitals}


def _parts(**kw):
    cfg = TrainConfig(n_channels=1, patch=32, batch_size=2, num_workers=1, **{**TINY_SR, **kw})
    parts = tasks.get(cfg.model).build(cfg)
    return cfg, parts, *build_optimizers(cfg, parts.G, parts.D)


def test_d_step_moves_d_only():
    _, p, opt_g, opt_d = _parts()
    b = _sr_batch()
    g0, d0 = _snap(p.G), _snap(p.D)
    sr = p.G(b["lr"], b["vitals"])
    logs = d_step(p.D, opt_d, (b["hr"],), (sr,), p.adv_mode, Amp())
    assert logs["d_loss"] > 0
    assert not _changed(g0, p.G)
    assert all(q.grad is None for q in p.G.parameters())  # the detach kept D's loss away from G
    assert _changed(d0, p.D)


def test_g_step_moves_g_only():
    _, p, opt_g, opt_d = _parts()
    b = _sr_batch()
    g0, d0 = _snap(p.G), _snap(p.D)
    sr = p.G(b["lr"], b["vitals"])
    logs = sr_g_step(p.G, p.D, opt_g, sr, b["hr"], p.loss, Amp())
    assert {"g_loss", "g_adv", "g_l1", "g_ssim"} <= set(logs)
    assert _changed(g0, p.G)
    assert not _changed(d0, p.D)
    assert all(q.grad is None for q in p.D.parameters())
    assert all(q.requires_grad for q in p.D.parameters())  # switched back on for the next D step


def test_full_step_and_warmup():
    _, p, opt_g, opt_d = _parts()
    d0 = _snap(p.D)
    logs = sr_train_step(p.G, p.D, opt_g, opt_d, _sr_batch(), p.loss, p.adv_mode, Amp(), adversarial=False)
    assert "d_loss" not in logs and "g_adv" not in logs
    assert not _changed(d0, p.D)  # warm-up: D does not train
    logs = sr_train_step(p.G, p.D, opt_g, opt_d, _sr_batch(seed=1), p.loss, p.adv_mode, Amp())
    assert "d_loss" in logs and "g_adv" in logs and _changed(d0, p.D)


def test_cgan_step_moves_both_in_turn():
    from medray.models.cgan import encode_mask

    cfg = TrainConfig(model="pixmed", n_channels=1, patch=32, batch_size=2, num_workers=1,
                      generator={"width": 8, "d_width": 8, "d_layers": 2})
    p = tasks.get(cfg.model).build(cfg)
    opt_g, opt_d = build_optimizers(cfg, p.G, p.D)
    labels = torch.zeros(2, 32, 32, dtype=torch.uint8)
    labels[:, 4:28, 4:28] = 12  # anatomy (the default condition) with a tumour in it
    labels[:, 8:20, 10:22] = 2
    cond = encode_mask(labels, p.G.cfg.mask_channels, p.G.cfg.condition)
    real = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    g0, d0 = _snap(p.G), _snap(p.D)
    logs = cgan_train_step(p.G, p.D, opt_g, opt_d, cond, real, p.loss, Amp())
    assert {"d_loss", "g_adv", "g_ssim"} <= set(logs) and 0 <= logs["g_ssim"] <= 2
    assert _changed(g0, p.G) and _changed(d0, p.D)


def test_bad_amp_mode_is_refused():
    from medray.config import ConfigError

    with pytest.raises(ConfigError, match="amp"):
        TrainConfig(amp="fp8")
