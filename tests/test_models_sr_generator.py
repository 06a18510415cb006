"""IoT-GAN generator: shapes, vitals-driven α, ablation switches, gradients, config validation."""
import math

import pytest
import torch

from medray.config import ConfigError, InputError, from_dict
from medray.models.blocks import MultiScaleFusion, ResidualAttention, ResidualConv, SingleScaleConv, TransposedUpsampler
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.models.vitals_adaptive import AlphaNet, VitalsAdaptiveBlock
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


SMALL = dict(width=8, depth=2)
VITALS = torch.tensor([[72.0, 98.0, 36.8, 0.2], [130.0, 86.0, 39.5, 0.9]])


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("upsampling", [True, False])
def test_output_shape(scale, channels, upsampling):
    torch.manual_seed(0)
    g = build_generator(SRGeneratorConfig(in_channels=channels, scale=scale, upsampling=upsampling, **SMALL))
    out = g(torch.rand(2, channels, 12, 10), VITALS)
    assert out.shape == (2, channels, 12 * scale, 10 * scale)
    assert torch.isfinite(out).all()


def test_alpha_from_vitals_changes_output_and_is_bounded():
    torch.manual_seed(0)
    g = build_generator(SRGeneratorConfig(alpha_max=0.8, **SMALL)).eval()
    lr = torch.rand(1, 1, 16, 16).expand(2, -1, -1, -1)  # same image, different patients
    out = g(lr, VITALS)
    alpha, source = g.alpha_for(VITALS, 2)
    assert source == "vitals"
    assert not hasattr(g, "last_alpha_source")  # no per-call state on a model that serves concurrent requests
    assert 0 < alpha.min() and alpha.max() < 0.8 and alpha[0] != alpha[1]  # per sample, bounded
    assert not torch.allclose(out[0], out[1])
    # explicit α overrides vitals, and two α give two outputs
    a = g(lr[:1], alpha=0.1)
    b = g(lr[:1], alpha=0.7)
    assert g.alpha_for(None, 1, 0.1)[1] == "explicit" and not torch.allclose(a, b)


def test_absent_vitals_use_default_alpha_and_say_so():
    g = build_generator(SRGeneratorConfig(alpha_default=0.3, **SMALL))
    nan_row = torch.full((1, 4), float("nan"))
    a, source = g.alpha_for(nan_row, 1)
    assert torch.allclose(a, torch.tensor([0.3])) and source == "default"
    a, source = g.alpha_for(None, 1)
    assert source == "default" and math.isclose(float(a[0]), 0.3, rel_tol=1e-6)
    assert g.alpha_default == 0.3 and g.alpha_max == 1.0 and g.scale == 2  # the SR protocol's attributes
    mixed = torch.cat([VITALS[:1], nan_row])
    a, source = g.alpha_for(mixed, 2)
    a = a.detach()
    assert source == "mixed" and math.isclose(float(a[1]), 0.3, rel_tol=1e-6) and a[0] != a[1]


def test_bad_alpha_and_vitals_are_input_errors():
    g = build_generator(SRGeneratorConfig(**SMALL))
    with pytest.raises(InputError, match="bad_alpha"):
        g(torch.rand(1, 1, 8, 8), alpha=1.5)
    with pytest.raises(InputError, match="bad_vitals"):
        g(torch.rand(2, 1, 8, 8), torch.rand(2, 3))
    with pytest.raises(InputError, match="bad_shape"):
        g(torch.rand(1, 4, 8, 8))


def test_adaptive_block_alpha_zero_is_identity():
    torch.manual_seed(0)
    block = VitalsAdaptiveBlock(8)
    x = torch.randn(1, 8, 6, 6).repeat(3, 1, 1, 1)  # one sample three times: only α differs
    assert torch.equal(block(x, torch.zeros(3)), x)
    y = block(x, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(y[0], x[0]) and not torch.allclose(y[1], x[1])
    assert torch.allclose(y[2] - x[2], 2 * (y[1] - x[1]), atol=1e-6)  # linear in α


def test_alpha_net_normalises_raw_units():
    net = AlphaNet(alpha_max=2.0)
    a = net(torch.tensor([[75.0, 97.0, 37.0, 0.5], [1e6, -1e6, 1e6, 1e6]]))  # glitch values stay bounded
    assert a.shape == (2,) and torch.all((a > 0) & (a < 2.0))


def _types(model):
    return {type(m) for m in model.modules()}


def test_each_ablation_switch_changes_the_architecture_as_named():
    base = _types(build_generator(SRGeneratorConfig(**SMALL)))
    assert {ResidualAttention, MultiScaleFusion, TransposedUpsampler, VitalsAdaptiveBlock, AlphaNet} <= base
    no_ra = _types(build_generator(SRGeneratorConfig(residual_attention=False, **SMALL)))
    assert ResidualAttention not in no_ra and ResidualConv in no_ra
    no_ms = _types(build_generator(SRGeneratorConfig(multiscale=False, **SMALL)))
    assert MultiScaleFusion not in no_ms and SingleScaleConv in no_ms
    no_up = build_generator(SRGeneratorConfig(upsampling=False, **SMALL))
    assert TransposedUpsampler not in _types(no_up)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in no_up.modules())
    no_va = build_generator(SRGeneratorConfig(vitals_adaptive=False, **SMALL))
    assert VitalsAdaptiveBlock not in _types(no_va) and AlphaNet not in _types(no_va)
    lr = torch.rand(2, 1, 8, 8)
    assert torch.allclose(no_va(lr, VITALS), no_va(lr))  # vitals cannot matter any more
    assert no_va.alpha_for(VITALS, 2)[1] == "disabled"


def test_multiscale_branches_follow_kernel_sizes():
    g = build_generator(SRGeneratorConfig(kernel_sizes=(3, 9), **SMALL))
    msf = next(m for m in g.modules() if isinstance(m, MultiScaleFusion))
    assert [b.kernel_size for b in msf.branches] == [(3, 3), (9, 9)] and msf.lambdas.shape == (2,)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    g = build_generator(SRGeneratorConfig(scale=4, in_channels=4, **SMALL))
    g(torch.rand(2, 4, 8, 8), VITALS).square().mean().backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    g.zero_grad(set_to_none=True)  # without vitals the α MLP still gets a (zero) gradient: DDP-safe
    g(torch.rand(2, 4, 8, 8)).square().mean().backward()
    assert [n for n, p in g.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(scale=3), r"scale=3 .*\[2, 4\]"),
        (dict(in_channels=0), r"in_channels=0 .*\[1, 4\]"),
        (dict(width=0), r"width=0"),
        (dict(kernel_sizes=(3, 4)), r"kernel_sizes=\(3, 4\)"),
        (dict(multiscale="yes"), r"multiscale='yes' .*\[True, False\]"),
        (dict(alpha_default=2.0), r"alpha_default=2.0"),
    ],
)
def test_invalid_config_fails_at_construction(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        SRGeneratorConfig(**kwargs)


def test_unknown_switch_is_named():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['attention'\].*residual_attention"):
        from_dict(SRGeneratorConfig, {"attention": False})
    cfg = from_dict(SRGeneratorConfig, {"scale": 4, "kernel_sizes": [3, 5]})
    assert cfg.kernel_sizes == (3, 5) and cfg.scale == 4
