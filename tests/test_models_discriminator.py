"""Hybrid discriminator: heads, mixing formula, small crops, gradients, config validation."""
import pytest
import torch

from medray.config import ConfigError, InputError
from medray.models.discriminator import DiscriminatorConfig, build_discriminator
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


SMALL = dict(width=8, n_layers=3)


@pytest.mark.parametrize("size, patch", [(32, 2), (64, 6), (256, 30)])
def test_heads_shapes_on_small_and_full_crops(size, patch):
    d = build_discriminator(DiscriminatorConfig(**SMALL))
    out = d(torch.rand(2, 1, size, size))
    assert out.patch.shape == (2, 1, patch, patch)
    assert out.global_.shape == (2, 1) and out.mixed.shape == (2,)


@pytest.mark.parametrize("alpha, beta, tie", [(0.5, 0.5, False), (0.8, 0.3, False), (0.7, 0.9, True)])
def test_mixed_equals_formula(alpha, beta, tie):
    torch.manual_seed(0)
    d = build_discriminator(DiscriminatorConfig(alpha=alpha, beta=beta, tie_beta=tie, **SMALL)).eval()
    out = d(torch.rand(3, 1, 48, 48))
    b = 1 - alpha if tie else beta
    expected = alpha * out.patch.mean(dim=(1, 2, 3)) + b * out.global_[:, 0]
    assert torch.allclose(out.mixed, expected, atol=1e-6)
    assert (out.w_patch, out.w_global) == pytest.approx((alpha, b))


def test_dropping_a_head():
    x = torch.rand(2, 1, 32, 32)
    no_global = build_discriminator(DiscriminatorConfig(global_head=False, **SMALL)).eval()
    out = no_global(x)
    assert out.global_ is None and not any(isinstance(m, torch.nn.Linear) for m in no_global.modules())
    assert torch.allclose(out.mixed, out.patch.mean(dim=(1, 2, 3)))
    no_patch = build_discriminator(DiscriminatorConfig(patch_head=False, **SMALL)).eval()
    out = no_patch(x)
    assert out.patch is None and torch.allclose(out.mixed, out.global_[:, 0])
    with pytest.raises(ConfigError, match="at least one head"):
        DiscriminatorConfig(patch_head=False, global_head=False)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    d = build_discriminator(DiscriminatorConfig(in_channels=4, **SMALL))
    out = d(torch.rand(2, 4, 32, 32))
    (out.patch.mean() + out.global_.mean()).backward()
    assert [n for n, p in d.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_bad_inputs_and_configs():
    d = build_discriminator(DiscriminatorConfig(**SMALL))
    with pytest.raises(InputError, match="H≥24"):
        d(torch.rand(1, 1, 16, 16))
    with pytest.raises(ConfigError, match=r"norm='group' .*\['batch', 'instance', 'none'\]"):
        DiscriminatorConfig(norm="group")
    with pytest.raises(ConfigError, match=r"alpha=1.5 is out of range \[0.0, 1.0\]"):
        DiscriminatorConfig(alpha=1.5, tie_beta=True)
