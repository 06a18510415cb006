"""The Python API (medray.enhance, medray.synthesize) on arrays and on real NIfTI / DICOM files, with tiny
seeded checkpoints; `import medray` stays light, and without weights the error names checkpoint=."""
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file

import medray
from medray.config import ConfigError, InputError
from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.models.checkpoint import save_checkpoint
from medray.models.sr_generator import SRGeneratorConfig, build_generator

ANATOMICAL = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"  # a real MR, 33×41×25
CALM, FEVER = (62.0, 99.0, 36.6, 0.1), (138.0, 86.0, 39.6, 0.9)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    torch.manual_seed(0)
    cfg = SRGeneratorConfig(in_channels=1, scale=2, width=8, depth=1)
    sr = save_checkpoint(root / "iotgan.pt", kind="iotgan", config=cfg, state_dict=build_generator(cfg).state_dict())
    ccfg = CGANConfig(width=8, n_downs=6)  # deep enough for the dropout levels the seed drives
    cg = save_checkpoint(root / "pixmed.pt", kind="pixmed", config=ccfg,
                         state_dict=build_cgan_generator(ccfg).state_dict())
    return sr, cg


def test_import_stays_light_and_exports_lazily():
    code = "import sys, medray; assert 'torch' not in sys.modules and 'ray' not in sys.modules; print(medray.enhance)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert out.returncode == 0 and "function enhance" in out.stdout, out.stderr
    from medray import api

    assert medray.enhance is api.enhance and medray.synthesize is api.synthesize


def test_enhance_array_follows_vitals(ckpts):
    rng = np.random.default_rng(0)
    img = (np.outer(np.hanning(40), np.hanning(36)) * 900 + rng.random((40, 36)) * 50).astype(np.float32)
    calm = medray.enhance(img, scale=2, vitals=dict(zip(("heart_rate", "spo2", "temperature", "mobility"), CALM)),
                          checkpoint=ckpts[0])
    fever = medray.enhance(img, vitals=FEVER, checkpoint=ckpts[0])
    none = medray.enhance(img, checkpoint=ckpts[0])
    assert calm.image.shape == (80, 72) and calm.image.dtype == np.float32 and np.asarray(calm).shape == (80, 72)
    assert calm.alpha_source == fever.alpha_source == "vitals" and none.alpha_source == "default"
    assert calm.alpha != fever.alpha and not np.array_equal(calm.image, fever.image)
    down = calm.image.reshape(40, 2, 36, 2).mean(axis=(1, 3))  # in the input's units, close to it
    assert np.corrcoef(down.ravel(), img.ravel())[0, 1] > 0.95 and abs(down.mean() - img.mean()) < 0.25 * img.mean()


def test_enhance_nifti_and_dicom_paths(ckpts):
    vol = np.asarray(nib.as_closest_canonical(nib.load(ANATOMICAL)).get_fdata(), np.float32)
    out = medray.enhance(ANATOMICAL, checkpoint=ckpts[0])
    assert out.image.shape == (vol.shape[0] * 2, vol.shape[1] * 2, vol.shape[2])
    z = vol.shape[2] // 2
    down = out.image[..., z].reshape(vol.shape[0], 2, vol.shape[1], 2).mean(axis=(1, 3))
    assert np.corrcoef(down.ravel(), vol[..., z].ravel())[0, 1] > 0.9

    ct_path = get_testdata_file("CT_small.dcm")  # a real CT slice; result in HU, air outside the window kept
    ds = pydicom.dcmread(ct_path)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    ct = medray.enhance(ct_path, checkpoint=ckpts[0])
    assert ct.image.shape == (ds.Rows * 2, ds.Columns * 2, 1)
    assert ct.image.min() == pytest.approx(hu.min(), abs=50) and ct.image.max() == pytest.approx(hu.max(), rel=0.1)


def test_clear_errors(ckpts, monkeypatch, tmp_path):
    try:  # hide shipped weights where this install has them
        import medray.weights
    except ImportError:
        pass
    else:
        monkeypatch.setattr(medray.weights, "default_checkpoint", lambda *a, **k: None)
    with pytest.raises(ConfigError, match="checkpoint="):
        medray.enhance(np.zeros((8, 8), np.float32))
    with pytest.raises(ConfigError, match=r"scale=4.*valid scales for it: \[2\]"):
        medray.enhance(np.zeros((8, 8), np.float32), scale=4, checkpoint=ckpts[0])
    with pytest.raises(InputError, match="unknown vitals"):
        medray.enhance(np.zeros((8, 8), np.float32), vitals={"pulse": 80}, checkpoint=ckpts[0])
    with pytest.raises(InputError, match="does not exist"):
        medray.enhance(tmp_path / "missing.nii.gz", checkpoint=ckpts[0])
    with pytest.raises(ConfigError, match="checkpoint="):
        medray.synthesize(np.zeros((32, 32), np.uint8))


def test_synthesize_is_seeded(ckpts):
    labels = np.zeros((64, 64), np.uint8)
    labels[8:56, 8:56] = 12
    labels[20:40, 20:40] = 2
    labels[26:34, 26:34] = 4
    a = medray.synthesize(labels, n=3, seed=5, checkpoint=ckpts[1])
    b = medray.synthesize(labels, n=3, seed=5, checkpoint=ckpts[1])
    assert a.shape == (3, 1, 64, 64) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])  # seeds 5 and 6 differ
    with pytest.raises(InputError, match="labels"):
        medray.synthesize(np.full((32, 32), 3, np.uint8), checkpoint=ckpts[1])
