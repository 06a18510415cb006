"""Sweep space files: the shipped ones load; a malformed one fails before any trial starts, naming the key."""
from pathlib import Path

import pytest

from medray.cli import main
from medray.config import ConfigError
from medray.tune.space import load_space

SPACES = Path(__file__).resolve().parents[1] / "tune_spaces"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["ablation_iotgan", "ablation_pixmed", "discriminator_mix", "loss_weights"])
def test_shipped_spaces_load(name):
    s = load_space(SPACES / f"{name}.yaml")
    assert s.params or s.variants


def test_iotgan_ablation_carries_the_papers_numbers_apart():
    s = load_space(SPACES / "ablation_iotgan.yaml")
    names = [v.name for v in s.variants]
    assert names[0] == "full" and "no_vitals_adaptive" in names and len(names) == 7
    assert s.variant("full").paper == {"psnr": 28.5, "ssim": 0.84}
    assert s.variant("no_patch_head").overrides == {"discriminator.patch_head": False}
    assert s.variant("no_vitals_adaptive").paper == {}  # ours: the paper has no such row
    assert "BraTS 2021" in s.paper_source


def test_loss_weights_vgg19_space_needs_the_vgg19_weights_up_front(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDRAY_VGG19_WEIGHTS", raising=False)
    with pytest.raises(ConfigError, match="MEDRAY_VGG19_WEIGHTS|vgg19_weights"):
        load_space(SPACES / "loss_weights_vgg19.yaml")


def test_loss_weights_space_runs_offline_without_vgg19_weights(monkeypatch, tmp_path):
    """The shipped loss-weight sweep validates and plans (Tune space, per-trial config) with no weights."""
    from medray.train.options import TrainConfig
    from medray.tune.runner import param_space, trial_setup
    from medray.tune.space import build_config
    from medray.tune.trainable import trial_overrides

    monkeypatch.delenv("MEDRAY_VGG19_WEIGHTS", raising=False)
    s = load_space(SPACES / "loss_weights.yaml")
    assert "loss.w_perc" not in s.params and s.base["loss.perceptual"] == "none"
    assert set(s.params) == {"loss.w_ssim", "loss.w_l1", "loss.w_adv"}
    assert set(param_space(s)["params"]) == set(s.params)
    setup = trial_setup(s, tmp_path, tmp_path / "out", max_epochs=None, max_steps=None)
    sample = {"params": {"loss.w_ssim": 1.0, "loss.w_l1": 0.1, "loss.w_adv": 0.01}}  # range ends
    cfg = build_config(TrainConfig, s.model, trial_overrides(setup, sample), where="trial")
    assert cfg.loss["perceptual"] == "none" and cfg.loss["w_l1"] == 0.1


def test_unknown_dotted_key_is_named(tmp_path):
    p = _write(tmp_path, "params:\n  generator.residual_atention: {grid: [true, false]}\n")
    with pytest.raises(ConfigError, match=r"generator\.residual_atention") as e:
        load_space(p)
    assert "residual_attention" in str(e.value)  # the valid keys are listed


def test_unknown_top_level_and_variant_keys_are_named(tmp_path):
    with pytest.raises(ConfigError, match="num_sample"):
        load_space(_write(tmp_path, "num_sample: 3\nparams: {lr: {uniform: [0.0001, 0.001]}}\n"))
    with pytest.raises(ConfigError, match=r"variants\.a.*papers"):
        load_space(_write(tmp_path, "variants:\n  a: {overrides: {}, papers: {psnr: 1}}\n"))


@pytest.mark.parametrize("spec, words", [
    ("{normal: [0, 1]}", ["loss.w_l1", "normal", "loguniform"]),
    ("{loguniform: [0, 1]}", ["loss.w_l1", "lo > 0"]),
    ("{uniform: [2, 1]}", ["loss.w_l1", "lo < hi"]),
    ("{grid: []}", ["loss.w_l1", "non-empty"]),
    ("[0.1, 1]", ["loss.w_l1", "expected one of"]),
])
def test_bad_distribution_is_named(tmp_path, spec, words):
    with pytest.raises(ConfigError) as e:
        load_space(_write(tmp_path, f"params:\n  loss.w_l1: {spec}\n"))
    for w in words:
        assert w in str(e.value)


def test_bad_values_fail_through_the_configs_own_validation(tmp_path):
    with pytest.raises(ConfigError, match=r"generator\.width.*width"):
        load_space(_write(tmp_path, "params:\n  generator.width: {grid: [16, 2]}\n"))
    with pytest.raises(ConfigError, match=r"variants\.none.*at least one head"):
        load_space(_write(tmp_path, "variants:\n  none: {overrides: {discriminator.patch_head: false, "
                                    "discriminator.global_head: false}}\n"))
    with pytest.raises(ConfigError, match=r"discriminator\.alpha.*not used by this model"):
        load_space(_write(tmp_path, "model: pixmed\nparams:\n  discriminator.alpha: {uniform: [0.1, 0.9]}\n"))


def test_cli_refuses_a_bad_space_before_any_trial(tmp_path, capsys):
    space = _write(tmp_path, "params:\n  loss.w_percc: {loguniform: [0.001, 0.1]}\n")
    out = tmp_path / "sweep"
    rc = main(["tune", str(space), "--shards", str(tmp_path), "--out", str(out)])
    assert rc == 2
    assert "loss.w_percc" in capsys.readouterr().err
    assert not out.exists()  # nothing was started or written
