"""The ONNX Runtime backend of the enhance pipeline gives the eager outputs within 1e-4 (per-request α, batches,
tiles, the shipped weights), is built once per model, and is chosen by a validated option."""
import numpy as np
import pytest
import torch

from medray import tasks
from medray.config import ConfigError
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.pipelines.enhance import EnhancePipeline, EnhanceRequest, InferenceOptions
from medray.pipelines.onnx_backend import onnx_runner
from medray.weights import default_checkpoint
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


def _model(**kw):
    torch.manual_seed(0)
    return build_generator(SRGeneratorConfig(width=8, depth=2, **kw)).eval()


def test_onnx_equals_eager_per_request_alpha_and_tiles():
    rng = np.random.default_rng(0)
    model = _model()
    eager = EnhancePipeline(model, options=InferenceOptions(tile=40, overlap=12))
    onnx = EnhancePipeline(model, options=InferenceOptions(tile=40, overlap=12, backend="onnx"))
    # two requests share one forward (same shape) with different α; the 50×70 one is tiled
    reqs = [EnhanceRequest(rng.random((2, 1, 24, 30), dtype=np.float32), 0.1),
            EnhanceRequest(rng.random((1, 1, 24, 30), dtype=np.float32), 0.9),
            EnhanceRequest(rng.random((1, 1, 50, 70), dtype=np.float32), 0.5)]
    for a, b in zip(eager.run(reqs), onnx.run(reqs)):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 1e-4
    # α reaches the graph as an input: a different α changes the output (the test can fail)
    x = reqs[1].slices
    assert np.abs(onnx(x, alpha=0.0)[0] - onnx(x, alpha=1.0)[0]).max() > 1e-4
    assert onnx_runner(model) is onnx._onnx  # one session per model


def test_onnx_model_without_alpha():
    model = _model(vitals_adaptive=False)
    x = np.random.default_rng(1).random((1, 1, 20, 20), dtype=np.float32)
    a = EnhancePipeline(model)(x)[0]
    b = EnhancePipeline(model, options=InferenceOptions(backend="onnx"))(x)[0]
    assert np.abs(a - b).max() < 1e-4


def test_onnx_shipped_weights():
    model = tasks.load(default_checkpoint("sr", 2), family="sr").model
    x = np.random.default_rng(2).random((1, 1, 48, 40), dtype=np.float32)
    a = EnhancePipeline(model, options=InferenceOptions(channels_last=False))(x, alpha=0.3)[0]
    b = EnhancePipeline(model, options=InferenceOptions(backend="onnx"))(x, alpha=0.3)[0]
    assert np.abs(a - b).max() < 1e-4


def test_backend_option_is_validated():
    with pytest.raises(ConfigError, match=r"backend='tensorrt'.*\['eager', 'onnx'\]"):
        InferenceOptions(backend="tensorrt")
    with pytest.raises(ConfigError, match="dtype='bf16'.*backend='onnx'"):
        InferenceOptions(backend="onnx", dtype="bf16")
