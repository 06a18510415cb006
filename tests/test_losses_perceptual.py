"""VGG19 perceptual loss: loads a torchvision-format state dict (saved here with random weights), and
fails clearly without one."""
import pytest
import torch

from medray.config import ConfigError
from medray.losses.composite import GeneratorLoss, GeneratorLossConfig
from medray.losses.perceptual import ENV_WEIGHTS, PerceptualLoss, VGG19Features
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


# the conv indices of torchvision.models.vgg19().features (cfg "E")
TORCHVISION_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    torch.manual_seed(0)
    feats = VGG19Features()
    sd = {f"features.{k}": v for k, v in feats.state_dict().items()}
    assert sorted({int(k.split(".")[1]) for k in sd}) == TORCHVISION_CONV_INDICES
    sd["classifier.0.weight"] = torch.zeros(4, 2)  # present in torchvision files, must be ignored
    sd["classifier.6.bias"] = torch.zeros(3)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(sd, path)
    return path, sd


def test_loads_torchvision_format_and_scores(vgg_file):
    path, sd = vgg_file
    loss = PerceptualLoss(path, layers=("relu1_2", "relu2_2"))
    assert len(loss.features) == 9  # built only up to relu2_2 (index 8)
    assert torch.equal(loss.features[7].weight, sd["features.7.weight"])
    assert all(not p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.features.training
    torch.manual_seed(1)
    hr = torch.rand(2, 1, 32, 32)
    sr = torch.rand(2, 1, 32, 32, requires_grad=True)
    assert float(loss(hr, hr)) == 0.0
    value = loss(sr, hr)
    assert value > 0
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert float(loss(torch.rand(1, 4, 32, 32), torch.rand(1, 4, 32, 32))) > 0  # 4-channel MRI


def test_env_var_and_composite(vgg_file, monkeypatch):
    path, _ = vgg_file
    monkeypatch.setenv(ENV_WEIGHTS, str(path))
    g = GeneratorLoss(GeneratorLossConfig(perceptual="vgg19", perceptual_layers=("relu2_2",)))
    total, parts = g(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    assert set(parts) == {"l1", "ssim", "perc", "total"} and parts["perc"] > 0


def test_missing_weights_is_a_clear_config_error(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    with pytest.raises(ConfigError, match=r"vgg19_weights.*MEDRAY_VGG19_WEIGHTS.*perceptual: none"):
        GeneratorLoss(GeneratorLossConfig(perceptual="vgg19"))
    with pytest.raises(ConfigError, match=r"vgg19_weights='.*nope.pth' is not a file"):
        PerceptualLoss(tmp_path / "nope.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(ConfigError, match=r"not a torchvision vgg19 state dict: missing \['features.0.bias'"):
        PerceptualLoss(tmp_path / "partial.pth")
    assert GeneratorLoss(GeneratorLossConfig(perceptual="none")).perceptual is None


def test_bad_layer_names(vgg_file):
    with pytest.raises(ConfigError, match=r"perceptual_layers='relu9_9' .*relu5_4"):
        GeneratorLossConfig(perceptual="none", perceptual_layers=("relu9_9",))
    with pytest.raises(ConfigError, match=r"perceptual_layers=\['relu6_1'\]"):
        PerceptualLoss(vgg_file[0], layers=["relu6_1"])
