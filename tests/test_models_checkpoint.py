"""Checkpoints carry their config: tasks.load needs nothing else; foreign files get a typed error."""
import pytest
import torch

from medray.config import ConfigError
from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.tasks import load
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


def test_iotgan_round_trip_via_folder(tmp_path):
    torch.manual_seed(0)
    cfg = SRGeneratorConfig(scale=4, width=8, depth=1, multiscale=False, kernel_sizes=(3, 5))
    g = build_generator(cfg)
    opt = torch.optim.Adam(g.parameters())
    g(torch.rand(1, 1, 8, 8)).mean().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "ckpt", kind="iotgan", config=cfg, state_dict=g.state_dict(),
                           metrics={"psnr": 31.5}, extra={"epoch": 2, "optimizer_g": opt.state_dict()})
    assert path == tmp_path / "ckpt" / "medray.pt"
    assert torch.load(path, weights_only=True)["format"] == "medray-checkpoint"  # no pickled classes
    loaded = load(tmp_path / "ckpt")
    model, cfg2, ckpt = loaded.model, loaded.config, loaded.ckpt
    assert cfg2 == cfg and not model.training
    assert ckpt["metrics"] == {"psnr": 31.5} and ckpt["epoch"] == 2 and ckpt["kind"] == "iotgan"
    x = torch.rand(1, 1, 8, 8)
    assert torch.equal(model(x, alpha=0.4), g.eval()(x, alpha=0.4))


def test_pixmed_round_trip_via_pt_file(tmp_path):
    cfg = CGANConfig(width=8, n_downs=5, d_width=8)
    g = build_cgan_generator(cfg)
    save_checkpoint(tmp_path / "g.pt", kind="pixmed", config=cfg, state_dict=g.state_dict())
    loaded = load(tmp_path / "g.pt")
    model, cfg2, ckpt = loaded.model, loaded.config, loaded.ckpt
    assert cfg2 == cfg and ckpt["metrics"] == {}
    mask = torch.rand(1, cfg.mask_channels, 32, 32)  # the default condition's channel count
    assert torch.equal(model(mask), g.eval()(mask))


def test_not_a_medray_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not_medray_checkpoint") as e:
        load_checkpoint(tmp_path / "junk.pt")
    assert e.value.reason == "not_medray_checkpoint"
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="format='medray-checkpoint'"):
        load(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not_found"):
        load_checkpoint(tmp_path / "missing")


def test_version_kind_and_mismatch_errors(tmp_path):
    cfg = SRGeneratorConfig(width=8, depth=1)
    sd = build_generator(cfg).state_dict()
    p = save_checkpoint(tmp_path / "a.pt", kind="iotgan", config=cfg, state_dict=sd)
    ckpt = torch.load(p, weights_only=True)
    torch.save({**ckpt, "version": 99}, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="unsupported_version"):
        load_checkpoint(tmp_path / "v.pt")
    torch.save({**ckpt, "config": {**ckpt["config"], "width": 16}}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="state_dict_mismatch"):
        load(tmp_path / "w.pt")
    torch.save({**ckpt, "kind": "srgan"}, tmp_path / "k.pt")
    with pytest.raises(CheckpointError, match=r"kind='srgan'.*'iotgan'.*'baseline'.*'pixmed'"):
        load(tmp_path / "k.pt")


def test_save_refuses_bad_arguments(tmp_path):
    cfg = SRGeneratorConfig(width=8, depth=1)
    sd = build_generator(cfg).state_dict()
    with pytest.raises(ConfigError, match=r"kind=''"):
        save_checkpoint(tmp_path / "x.pt", kind="", config=cfg, state_dict=sd)
    with pytest.raises(ConfigError, match=r"extra.*'state_dict'"):
        save_checkpoint(tmp_path / "x.pt", kind="iotgan", config=cfg, state_dict=sd, extra={"state_dict": {}})
    with pytest.raises(ConfigError, match="checkpoint.when: object"):
        save_checkpoint(tmp_path / "x.pt", kind="iotgan", config=cfg, state_dict=sd, extra={"when": object()})
    assert not (tmp_path / "x.pt").exists()
