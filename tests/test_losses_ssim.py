"""Differentiable SSIM loss: matches the metric, works on 32×32 crops, gives useful gradients."""
import numpy as np
import torch
from skimage.metrics import structural_similarity

from medray.losses.pixel import l1_loss
from medray.losses.ssim import ssim_loss
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


def test_ssim_loss_matches_skimage_on_32px_crop():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 32, 32, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(1, 1, 32, 32, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = structural_similarity(x[0, 0].numpy(), y[0, 0].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert abs(float(ssim_loss(x, y)) - (1 - ref)) < 1e-6
    assert float(ssim_loss(x, x)) == 0.0


def test_ssim_loss_gradient_improves_structure():
    torch.manual_seed(0)
    target = torch.rand(2, 4, 32, 32)
    x = torch.rand(2, 4, 32, 32, requires_grad=True)
    opt = torch.optim.Adam([x], lr=0.05)
    first = ssim_loss(x, target).item()
    for _ in range(30):
        opt.zero_grad()
        ssim_loss(x, target).backward()
        opt.step()
    assert ssim_loss(x, target).item() < 0.5 * first


def test_l1():
    assert float(l1_loss(torch.zeros(2, 3), torch.full((2, 3), 0.25))) == 0.25
    assert np.isclose(float(l1_loss(torch.tensor([1.0, -1.0]), torch.zeros(2))), 1.0)
