"""Adversarial losses on hybrid DOutput and plain logits; composite and PixMed loss bookkeeping."""
import math

import pytest
import torch
import torch.nn.functional as F

from medray.config import ConfigError
from medray.losses.adversarial import AdvMode, d_loss, g_adv_loss
from medray.losses.composite import GeneratorLoss, GeneratorLossConfig
from medray.losses.pixmed import PixMedLossConfig, pixmed_generator_loss
from medray.models.discriminator import DOutput


def _out(p, g, wp=0.7, wg=0.3):
    patch = torch.full((2, 1, 3, 3), p)
    glob = torch.full((2, 1), g)
    return DOutput(patch, glob, wp * patch.mean(dim=(1, 2, 3)) + wg * glob[:, 0], wp, wg)


def test_vanilla_and_lsgan_values():
    logits = torch.zeros(4, 1, 2, 2)
    assert float(g_adv_loss(logits, "vanilla")) == pytest.approx(math.log(2))
    assert float(d_loss(logits, logits, AdvMode.VANILLA)) == pytest.approx(math.log(2))
    assert float(g_adv_loss(torch.full((3,), 0.5), "lsgan")) == pytest.approx(0.25)
    assert float(d_loss(torch.ones(3), torch.zeros(3), "lsgan")) == 0.0
    with pytest.raises(ConfigError, match=r"adv_mode='wgan' .*\['vanilla', 'lsgan'\]"):
        g_adv_loss(logits, "wgan")


def test_hybrid_output_weights_each_head():
    out = _out(2.0, -1.0)
    expected = 0.7 * F.softplus(torch.tensor(-2.0)) + 0.3 * F.softplus(torch.tensor(1.0))  # BCE(x,1) = softplus(−x)
    assert float(g_adv_loss(out)) == pytest.approx(float(expected), rel=1e-6)
    only_global = DOutput(None, torch.full((2, 1), -1.0), torch.full((2,), -1.0), 0.0, 1.0)
    assert float(g_adv_loss(only_global)) == pytest.approx(float(F.softplus(torch.tensor(1.0))), rel=1e-6)
    zero_w = _out(2.0, -1.0, wp=0.0, wg=1.0)
    zero_w.patch.requires_grad_(True)
    g_adv_loss(zero_w).backward()  # a weight-0 head stays in the graph with a zero gradient
    assert zero_w.patch.grad is not None and float(zero_w.patch.grad.abs().sum()) == 0.0


def test_d_loss_separates_real_and_fake():
    good = float(d_loss(_out(5.0, 5.0), _out(-5.0, -5.0)))
    bad = float(d_loss(_out(-5.0, -5.0), _out(5.0, 5.0)))
    assert good < 0.01 < 4 < bad


def test_composite_parts_and_weights():
    torch.manual_seed(0)
    sr, hr = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    cfg = GeneratorLossConfig(perceptual="none", w_l1=2.0, w_ssim=0.5, w_adv=0.1, adv_mode="lsgan")
    total, parts = GeneratorLoss(cfg)(sr, hr, _out(0.0, 0.0))
    assert set(parts) == {"l1", "ssim", "adv", "total"}
    assert parts["adv"] == pytest.approx(1.0)  # (0 − 1)² on both heads
    assert float(total) == pytest.approx(2.0 * parts["l1"] + 0.5 * parts["ssim"] + 0.1 * parts["adv"], rel=1e-6)
    _, parts = GeneratorLoss(cfg)(sr, hr)  # no D output → no adversarial term
    assert "adv" not in parts
    with pytest.raises(ConfigError, match=r"w_l1=-1"):
        GeneratorLossConfig(perceptual="none", w_l1=-1)
    with pytest.raises(ConfigError, match=r"perceptual='lpips' .*\['vgg19', 'none'\]"):
        GeneratorLossConfig(perceptual="lpips")


def test_pixmed_loss_is_bce_plus_one_minus_ssim():
    fake, real = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    logits = torch.zeros(1, 1, 2, 2)
    total, parts = pixmed_generator_loss(logits, fake, real)
    assert parts["adv"] == pytest.approx(math.log(2)) and float(total) == pytest.approx(parts["adv"] + parts["ssim"])
    total, parts = pixmed_generator_loss(logits, real, real, PixMedLossConfig(w_adv=0.5, w_l1=10.0))
    assert parts["ssim"] == pytest.approx(0.0, abs=1e-6) and parts["l1"] == 0.0
    assert float(total) == pytest.approx(0.5 * math.log(2), abs=1e-6)
