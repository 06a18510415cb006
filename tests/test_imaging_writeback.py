"""The one invertible normalisation and the write-back that keeps what the model never saw (issue 12)."""
import io

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medray.config import ConfigError
from medray.imaging.normalise import CT_WINDOWS, Intensity, fit_intensity
from medray.imaging.writeback import upsample_bicubic, write_back
from medray.serve.codecs import CodecLimits, decode, encode


def test_intensity_is_invertible_inside_its_range_and_validated():
    rng = np.random.default_rng(0)
    ct = fit_intensity(None, "CT", "brain")
    assert (ct.lo, ct.hi, ct.window) == (0.0, 80.0, "brain")
    hu = rng.uniform(-5, 85, 1000)
    back = ct.inverse(ct.forward(hu))
    np.testing.assert_allclose(back[ct.inside(hu)], hu[ct.inside(hu)], atol=1e-3)
    assert back.min() == 0.0 and back.max() == 80.0  # clipped outside: only write_back restores those
    mr = fit_intensity(rng.gamma(2.0, 50.0, (8, 8, 8)).astype(np.float32), "MR")
    assert 0 < mr.lo < mr.hi and fit_intensity(None, "PNG", bits=16).hi == 65535.0
    with pytest.raises(ConfigError) as e:
        fit_intensity(None, "CT", "liver")
    assert "liver" in str(e.value) and all(w in str(e.value) for w in CT_WINDOWS)
    with pytest.raises(ConfigError):
        Intensity("US", 0.0, 1.0)
    with pytest.raises(ConfigError):
        CodecLimits(ct_window="liver")


def test_write_back_uses_the_model_inside_the_window_and_bicubic_raw_outside():
    raw = np.full((1, 16, 16), 40.0, np.float32)
    raw[0, :, :8] = -1000.0  # air, far below the soft-tissue window [-160, 240]
    it = fit_intensity(None, "CT")
    out = np.full((1, 32, 32), 0.75, np.float32)  # any model output
    res = write_back(out, raw, it)
    up = upsample_bicubic(raw, (32, 32))
    assert up.min() < -1000 - 1  # cubic convolution overshoots at the air/tissue edge …
    assert res.min() >= -1000  # … and write-back invents no value below the scan's own minimum
    assert np.allclose(res[0, :, :14], np.clip(up, -1000, 40)[0, :, :14]) and np.abs(res[0, :, :8] + 1000).max() < 5
    assert np.allclose(res[0, :, 20:], it.inverse(0.75))  # tissue: the model's output in HU


def _ct_dicom() -> bytes:
    """The real CT_small.dcm with an air block (−1000 HU) and a bone block (+1500 HU) painted in."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    px = ds.pixel_array.copy()
    px[:24, :24] = 24  # stored + intercept −1024 → −1000 HU
    px[-24:, -24:] = 2524  # → 1500 HU
    ds.PixelData = px.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("model", ["identity", "constant"])
def test_derived_ct_dicom_keeps_full_hu_range(model):
    dec = decode("application/dicom", _ct_dicom(), CodecLimits())
    out = dec.slices.repeat(2, -2).repeat(2, -1) if model == "identity" else np.full((1, 1, 256, 256), 0.5, np.float32)
    ds = pydicom.dcmread(io.BytesIO(encode(dec, out, 2, "medray test")))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert abs(float(np.median(hu[:40, :40])) + 1000) < 5  # air stays air
    assert float(np.median(hu[-40:, -40:])) > 1000  # bone stays bone
    assert hu.min() < -990 and hu.max() > 1400


def test_derived_ct_nifti_keeps_full_hu_range():
    vol = np.full((32, 32, 2), 40.0, np.float32)
    vol[:8] = -1000.0
    vol[-8:] = 1500.0
    body = nib.Nifti1Image(vol, np.eye(4)).to_bytes()
    dec = decode("application/x-nifti", body, CodecLimits())
    assert dec.meta["intensities"][0].modality == "CT"
    out = np.zeros((2, 1, 64, 64), np.float32)  # a model that outputs black everywhere
    back = nib.Nifti1Image.from_bytes(encode(dec, out, 2, "medray test")).get_fdata()
    assert back.shape == (64, 64, 2)
    assert abs(float(np.median(back[:12])) + 1000) < 5 and float(np.median(back[-12:])) > 1400
    assert abs(float(np.median(back[28:36])) - (-160.0)) < 1  # tissue: the model's 0 → the window's bottom
