"""Losses go down when the models overfit one REAL slice: an axial 64×64 crop of nilearn's MNI152 T1
(2 mm), with a label map made from nilearn's grey/white-matter masks for the cGAN."""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medray.losses.adversarial import d_loss
from medray.losses.composite import GeneratorLoss, GeneratorLossConfig
from medray.losses.pixmed import pixmed_generator_loss
from medray.metrics import psnr_batch
from medray.models.cgan import CGANConfig, build_cgan_discriminator, build_cgan_generator, encode_mask
from medray.models.discriminator import DiscriminatorConfig, build_discriminator
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)

datasets = pytest.importorskip("nilearn.datasets")


@functools.lru_cache(maxsize=1)
def mni_slice() -> tuple[np.ndarray, np.ndarray]:
    """(T1 crop in [0,1], labels 0/1/2) — 64×64 around the centre of axial slice 45."""
    t1 = np.asarray(datasets.load_mni152_template(resolution=2).get_fdata(), dtype=np.float32)
    gm = np.asarray(datasets.load_mni152_gm_mask(resolution=2).get_fdata()) > 0
    wm = np.asarray(datasets.load_mni152_wm_mask(resolution=2).get_fdata()) > 0
    sl = (slice(17, 81), slice(26, 90), 45)
    img = t1[sl]
    img = (img - img.min()) / (img.max() - img.min())
    labels = np.where(wm[sl], 2, np.where(gm[sl], 1, 0)).astype(np.uint8)
    return img, labels


def test_iotgan_losses_decrease_on_real_slice():
    torch.manual_seed(0)
    img, _ = mni_slice()
    hr = torch.from_numpy(img)[None, None]
    lr = F.avg_pool2d(hr, 2)
    vitals = torch.tensor([[72.0, 98.0, 36.8, 0.2]])
    g = build_generator(SRGeneratorConfig(width=16, depth=2))
    d = build_discriminator(DiscriminatorConfig(width=8))
    crit = GeneratorLoss(GeneratorLossConfig(perceptual="none", w_adv=1e-3))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-3)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4)
    history = []
    for _ in range(40):
        sr = g(lr, vitals)
        opt_d.zero_grad()
        d_loss(d(hr), d(sr.detach())).backward()
        opt_d.step()
        opt_g.zero_grad()
        total, parts = crit(sr, hr, d(sr))
        total.backward()
        opt_g.step()
        history.append(parts)
    first, last = history[0], history[-1]
    assert last["l1"] < 0.7 * first["l1"] and last["ssim"] < 0.7 * first["ssim"]
    with torch.no_grad():
        bicubic = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False)
        assert psnr_batch(g(lr, vitals), hr) > psnr_batch(bicubic, hr)  # learned more than interpolation


def test_pixmed_losses_decrease_on_real_slice():
    torch.manual_seed(0)
    img, labels = mni_slice()
    real = torch.from_numpy(img)[None, None]
    mask = encode_mask(labels)
    cfg = CGANConfig(width=8, n_downs=6, d_width=8, dropout=False)
    g, d = build_cgan_generator(cfg), build_cgan_discriminator(cfg)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    history = []
    for _ in range(40):
        fake = g(mask)
        opt_d.zero_grad()
        d_loss(d(mask, real), d(mask, fake.detach())).backward()
        opt_d.step()
        opt_g.zero_grad()
        total, parts = pixmed_generator_loss(d(mask, fake), fake, real)
        total.backward()
        opt_g.step()
        history.append(parts)
    assert history[-1]["ssim"] < 0.7 * history[0]["ssim"]
    assert np.isfinite([h["total"] for h in history]).all()
