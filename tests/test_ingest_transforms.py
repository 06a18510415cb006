"""Normalisation, slicing and the LR degradation (pure numpy, no Ray)."""
import json

import numpy as np
import pytest
from skimage.transform import resize

from medray.config import ConfigError
from medray.imaging import degrade as D
from medray.imaging.normalise import CT_WINDOWS, normalise_ct, normalise_mri
from medray.ingest.slicing import is_near_empty, resize_image, resize_mask, resized_spacing


def test_ct_windows_map_hu_and_unknown_name_lists_valid_ones():
    hu = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0])
    soft = normalise_ct(hu)  # default soft tissue: centre 40, width 400
    assert soft.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert normalise_ct(hu, "lung")[1] > normalise_ct(hu, "soft_tissue")[1]
    with pytest.raises(ConfigError) as e:
        normalise_ct(hu, "liver")
    assert "liver" in str(e.value) and all(name in str(e.value) for name in CT_WINDOWS)


def test_mri_percentile_clip_ignores_background_and_outliers():
    rng = np.random.default_rng(0)
    v = np.zeros((20, 20, 20), np.float32)
    v[5:15, 5:15, 5:15] = rng.uniform(100, 200, (10, 10, 10))
    v[10, 10, 10] = 1e6  # a hot voxel must not squash everything else
    n = normalise_mri(v)
    assert n.min() == 0.0 and n.max() == 1.0 and n[0, 0, 0] == 0.0
    assert 0.3 < float(np.median(n[5:15, 5:15, 5:15])) < 0.7
    assert not normalise_mri(np.full((4, 4, 4), 7.0)).any()  # constant volume → zeros, no division by zero


def test_near_empty_threshold_and_resize():
    empty = np.zeros((1, 64, 48), np.float32)
    empty[0, :2, :2] = 1.0  # 4 of 3072 pixels
    assert is_near_empty(empty)
    full = np.zeros((2, 64, 48), np.float32)
    full[1, 10:40, 10:40] = 0.5  # one channel with 29 % foreground is enough
    assert not is_near_empty(full)
    out = resize_image(full)
    assert out.shape == (2, 256, 256) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    m = np.zeros((64, 48), np.uint8)
    m[20:30, 20:30] = 4
    m[22:25, 22:25] = 1
    assert set(np.unique(resize_mask(m)).tolist()) == {0, 1, 4}  # nearest: no invented labels
    assert resized_spacing((64, 48), (1.0, 2.0)) == (0.25, 0.5)


def _hr():
    yy, xx = np.mgrid[:256, :256] / 255.0
    return np.stack([(np.sin(12 * xx) * np.cos(9 * yy) + 1) / 2]).astype(np.float32)


def test_degradation_is_documented_deterministic_and_not_bicubic():
    hr = _hr()
    lr, rec = D.degrade_all(hr, (2, 4), seed=3, series_id="s1", slice_index=7)
    assert lr[2].shape == (1, 128, 128) and lr[4].shape == (1, 64, 64)
    again, rec2 = D.degrade_all(hr, (2, 4), seed=3, series_id="s1", slice_index=7)
    assert rec == rec2 and all(np.array_equal(lr[s], again[s]) for s in (2, 4))
    meta = json.loads(rec)
    assert meta["x2"]["blur_sigma"] == 1.0 and meta["x4"]["downsample"] == "area"
    bicubic = resize(hr, (1, 64, 64), order=3, anti_aliasing=True)
    assert np.abs(lr[4] - bicubic).mean() > 1e-3  # a different kernel than the evaluation resize


def test_vitals_drive_motion_and_noise():
    hr = _hr()
    calm, rc = D.degrade_all(hr, (2,), 0, "s", 0, heart_rate=65.0, mobility=0.0)
    moving, rm = D.degrade_all(hr, (2,), 0, "s", 0, heart_rate=140.0, mobility=1.0)
    rc, rm = json.loads(rc)["x2"], json.loads(rm)["x2"]
    assert rc["motion_px"] == 1 and rc["noise_std"] == 0.0
    assert rm["motion_px"] == 13 and rm["noise_std"] == pytest.approx(0.028)
    plain, _ = D.degrade_all(hr, (2,), 0, "s", 0)
    assert np.array_equal(calm[2], plain[2])
    assert np.abs(moving[2] - plain[2]).mean() > 5 * np.abs(calm[2] - plain[2]).mean() + 1e-3
    k = D.motion_kernel(7, 30.0)
    assert k.sum() == pytest.approx(1.0) and (k > 0).sum() == 7
