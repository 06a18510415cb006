"""The enhance pipeline: tiles are seamless, the pixel budget and channels-last change nothing but speed and
memory, α is per request, and bad input is a typed error."""
import numpy as np
import pytest
import torch

from medray.config import ConfigError, InputError
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.pipelines.enhance import EnhancePipeline, InferenceOptions
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


def _model(scale=2):
    torch.manual_seed(0)
    return build_generator(SRGeneratorConfig(scale=scale, width=8, depth=2)).eval()


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled(scale):
    x = np.random.default_rng(0).random((1, 1, 70, 90), dtype=np.float32)
    whole = EnhancePipeline(_model(scale), options=InferenceOptions(tile=512, overlap=24, channels_last=False))
    tiles = EnhancePipeline(_model(scale), options=InferenceOptions(tile=50, overlap=24))
    a, alpha, _ = whole(x)
    b, _, _ = tiles(x)
    assert a.shape == (1, 1, 70 * scale, 90 * scale)
    assert np.abs(a - b).max() < 1e-4
    # too small a margin shows seams: the test can fail
    seamy, _, _ = EnhancePipeline(_model(scale), options=InferenceOptions(tile=20, overlap=1))(x)
    assert np.abs(a - seamy).max() > 1e-3


def test_pixel_budget_and_alpha_per_request():
    pipe = EnhancePipeline(_model(), options=InferenceOptions(max_pixels=16 * 16))  # one 16² slice per forward
    rng = np.random.default_rng(1)
    x = rng.random((3, 1, 16, 16), dtype=np.float32)
    calm, a_calm, src = pipe(x, vitals=[60.0, 99.0, 36.6, 0.1])
    ill, a_ill, _ = pipe(x, vitals=[140.0, 85.0, 39.8, 0.9])
    explicit, a_exp, src_exp = pipe(x, alpha=0.25)
    assert src == "vitals" and src_exp == "explicit" and a_exp == 0.25 and a_calm != a_ill
    assert not np.allclose(calm, ill)
    ref = EnhancePipeline(_model(), options=InferenceOptions(channels_last=False))(x, alpha=0.25)[0]
    assert np.abs(explicit - ref).max() < 1e-5


def test_bad_input_and_options():
    pipe = EnhancePipeline(_model())
    with pytest.raises(InputError, match="bad_channels"):
        pipe(np.zeros((1, 2, 8, 8), np.float32))
    with pytest.raises(InputError, match="bad_alpha"):
        pipe(np.zeros((1, 1, 8, 8), np.float32), alpha=7.0)
    with pytest.raises(ConfigError, match="dtype='fp8'"):
        InferenceOptions(dtype="fp8")
