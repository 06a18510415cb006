"""The service refuses to serve random weights unless told so explicitly, and labels them when it does."""
import pytest

from medray.config import ConfigError
from medray.models.checkpoint import save_checkpoint
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.serve.model_loader import check_checkpoint_setting, load_served_model
from medray.serve.stack import apply_overrides, deployment_options, load_serve_config


def test_no_checkpoint_is_refused_with_a_way_out():
    with pytest.raises(ConfigError, match="allow_untrained"):
        load_served_model(None, "sr", False)
    with pytest.raises(ConfigError, match="does not exist"):
        check_checkpoint_setting("/nonexistent/x.pt", False, "sr")


def test_dev_flag_serves_labelled_untrained_model():
    served = load_served_model(None, "sr", True)
    assert served.untrained and served.version == "iotgan:untrained-dev" and served.info()["untrained"] is True


def test_checkpoint_version_and_kind(tmp_path):
    cfg = SRGeneratorConfig(width=4, depth=1)
    path = save_checkpoint(tmp_path / "medray.pt", kind="iotgan", config=cfg, state_dict=build_generator(cfg).state_dict(),
                           metrics={"psnr": 30.0})
    served = load_served_model(str(tmp_path), "sr", False)  # a folder holding medray.pt
    assert served.version.startswith("iotgan:") and len(served.version) == len("iotgan:") + 12
    assert served.metrics == {"psnr": 30.0} and not served.untrained
    with pytest.raises(ConfigError, match="holds a 'iotgan'"):
        load_served_model(str(path), "synth", False)


def test_yaml_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the package finds its own config, whatever the current directory
    cfg = apply_overrides(load_serve_config(), checkpoint="rel/c.pt", synth_checkpoint="rel/s.pt", kafka="h:1",
                          port=9001, deployments={"Enhancer": {"max_ongoing_requests": 3}})
    app = cfg["applications"][0]
    assert app["args"]["checkpoint"] == str(tmp_path / "rel" / "c.pt")
    assert app["args"]["synth_checkpoint"] == str(tmp_path / "rel" / "s.pt") and app["args"]["kafka_bootstrap"] == "h:1"
    assert cfg["http_options"]["port"] == 9001
    enh = deployment_options(app)["Enhancer"]
    assert enh["max_ongoing_requests"] == 3 and "autoscaling_config" in enh and "name" not in enh
    from ray.serve.schema import ServeDeploySchema

    ServeDeploySchema.model_validate(cfg)  # what `serve run` accepts
    from medray.serve.builders import MedrayAppArgs

    MedrayAppArgs.model_validate(app["args"])
    with pytest.raises(Exception, match="typo_key"):
        MedrayAppArgs.model_validate({**app["args"], "typo_key": 1})
    with pytest.raises(ConfigError, match="HOST:PORT"):
        apply_overrides(load_serve_config(), kafka="nohostport")
