"""PixMed cGAN: ghost U-Net vs the pix2pix U-Net-256, PatchGAN on (mask, image), mask encoding."""
import numpy as np
import pytest
import torch

from medray.config import ConfigError, InputError
from medray.models.cgan import CGANConfig, build_cgan_discriminator, build_cgan_generator, encode_mask
from medray.models.ghost import GhostModule
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


SMALL = dict(width=8, n_downs=5, d_width=8)


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_plain_unet_is_pix2pix_unet256():
    # pytorch-CycleGAN-and-pix2pix UnetGenerator(3, 3, num_downs=8, ngf=64, BatchNorm2d, use_dropout=True)
    # has 54,413,955 parameters (counted by instantiating its networks.py); ours must be the same network.
    g = build_cgan_generator(CGANConfig(condition="tumour", use_ghost=False, mask_channels=3, out_channels=3))
    assert _params(g) == 54_413_955
    assert not any(isinstance(m, GhostModule) for m in g.modules())
    assert sum(isinstance(m, torch.nn.Dropout) for m in g.modules()) == 3


def test_ghost_unet_has_ghost_modules_and_half_the_params():
    ghost = build_cgan_generator(CGANConfig(ghost_decoder=True))  # medray's option: ghost decoder too
    plain = build_cgan_generator(CGANConfig(use_ghost=False))
    assert sum(isinstance(m, GhostModule) for m in ghost.modules()) == 8 + 7  # every down, every inner up
    assert _params(ghost) / _params(plain) <= 0.55
    enc_only = build_cgan_generator(CGANConfig())  # the paper's default: encoder only
    assert sum(isinstance(m, GhostModule) for m in enc_only.modules()) == 8
    assert 0.8 < _params(enc_only) / _params(plain) < 1.0  # the encoder holds few of the U-Net's weights


def test_ghost_ratio_controls_intrinsic_channels():
    m = GhostModule(16, 32, ratio=4)
    assert m.primary.out_channels == 8 and m.cheap.out_channels == 24 and m.cheap.groups == 8
    assert m(torch.rand(1, 16, 8, 8)).shape == (1, 32, 4, 4)
    assert GhostModule(16, 30, ratio=4)(torch.rand(1, 16, 8, 8)).shape == (1, 30, 4, 4)  # trimmed


@pytest.mark.parametrize("ghost", [True, False])
def test_generator_and_discriminator_shapes_and_grads(ghost):
    torch.manual_seed(0)
    cfg = CGANConfig(use_ghost=ghost, out_channels=4, **SMALL)
    g, d = build_cgan_generator(cfg), build_cgan_discriminator(cfg)
    mask = encode_mask(np.random.default_rng(0).choice([0, 1, 2, 4], size=(2, 32, 32)).astype(np.uint8))
    fake = g(mask)
    assert fake.shape == (2, 4, 32, 32) and fake.min() >= 0 and fake.max() <= 1
    logits = d(mask, fake)
    assert logits.shape == (2, 1, 2, 2)
    logits.mean().backward()
    for model in (g, d):
        assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_encode_mask_anatomy_labels():
    labels = np.array([[0, 10, 11], [12, 1, 4]], dtype=np.uint8)
    m = encode_mask(labels)  # default: condition anatomy, 7 channels over (0, 10, 11, 12, 1, 2, 4)
    assert m.shape == (1, 7, 2, 3)
    assert torch.equal(m[0].argmax(0), torch.tensor([[0, 1, 2], [3, 4, 6]])) and torch.equal(m.sum(1), torch.ones(1, 2, 3))
    assert CGANConfig().mask_channels == 7 and CGANConfig(condition="tumour").mask_channels == 4
    # the paper's tumour-only mode reads tissue as background
    t = encode_mask(labels, 4, "tumour")
    assert torch.equal(t[0].argmax(0), torch.tensor([[0, 0, 0], [0, 1, 3]]))
    assert torch.equal(encode_mask(labels, 1)[0, 0], torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
    with pytest.raises(ConfigError, match=r"mask_channels=4 .*\[7\]"):
        encode_mask(labels, 4, "anatomy")
    with pytest.raises(ConfigError, match=r"mask_channels=7 .*\[4, 3, 1\]"):
        CGANConfig(condition="tumour", mask_channels=7)


def test_encode_mask_brats_labels():
    labels = np.array([[0, 1], [2, 4]], dtype=np.uint8)
    m4 = encode_mask(labels, 4)
    assert m4.shape == (1, 4, 2, 2) and m4.dtype == torch.float32
    assert torch.equal(m4[0].argmax(0), torch.tensor([[0, 1], [2, 3]])) and torch.equal(m4.sum(1), torch.ones(1, 2, 2))
    m3 = encode_mask(torch.from_numpy(labels)[None], mask_channels=3)
    assert torch.equal(m3.sum(1), torch.tensor([[[0.0, 1.0], [1.0, 1.0]]]))
    assert torch.equal(encode_mask(labels, 1)[0, 0], torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(InputError, match=r"labels \[3\].*\[0, 1, 2, 4, 10, 11, 12\]"):
        encode_mask(np.array([[0, 3]], dtype=np.uint8))


def test_bad_configs_and_inputs():
    with pytest.raises(ConfigError, match=r"mask_channels=2 .*\[7\]"):
        CGANConfig(mask_channels=2)
    with pytest.raises(ConfigError, match=r"condition='brats'"):
        CGANConfig(condition="brats")
    with pytest.raises(ConfigError, match=r"ghost_ratio=1"):
        CGANConfig(ghost_ratio=1)
    g = build_cgan_generator(CGANConfig(**SMALL))
    with pytest.raises(InputError, match="multiples of 32"):
        g(torch.rand(1, 7, 48, 48))
