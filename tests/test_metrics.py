"""Metrics: PSNR/SSIM agree with scikit-image; NCC/MI/SF/MG on hand-computable images."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from medray import metrics


def _pair(shape=(48, 40), seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    a = rng.random(shape) * scale
    b = np.clip(a + 0.08 * scale * rng.standard_normal(shape), 0, scale)
    return a, b


@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_psnr_ssim_agree_with_skimage(data_range):
    a, b = _pair(scale=data_range)
    assert abs(metrics.psnr(a, b, data_range) - peak_signal_noise_ratio(a, b, data_range=data_range)) < 1e-3
    ref = structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert abs(metrics.ssim(a, b, data_range) - ref) < 1e-3
    # batched torch versions give the same numbers per sample
    t = lambda x: torch.from_numpy(np.stack([x, x[::-1].copy()]))[:, None].float()  # noqa: E731
    ref2 = structural_similarity(a[::-1], b[::-1], data_range=data_range, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert torch.allclose(metrics.ssim_batch(t(a), t(b), data_range).double(), torch.tensor([ref, ref2]).double(), atol=1e-3)
    assert torch.allclose(metrics.psnr_batch(t(a), t(b), data_range).double(),
                          torch.tensor([peak_signal_noise_ratio(a, b, data_range=data_range)] * 2).double(), atol=1e-3)


def test_multichannel_ssim_is_channel_mean():
    a, b = _pair((2, 32, 32), seed=1)
    per = [structural_similarity(a[c], b[c], data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
           for c in range(2)]
    assert abs(metrics.ssim(a, b, 1.0) - np.mean(per)) < 1e-6


def test_identical_and_known_psnr():
    a = np.full((16, 16), 0.5)
    assert metrics.psnr(a, a, 1.0) == math.inf and metrics.ssim(a, a, 1.0) == pytest.approx(1.0)
    assert metrics.psnr(a, a + 0.1, 1.0) == pytest.approx(20.0)  # MSE 0.01 → 20 dB


def test_ncc_hand_cases():
    a, _ = _pair()
    assert metrics.ncc(a, a) == pytest.approx(1.0)
    assert metrics.ncc(a, 3 * a + 7) == pytest.approx(1.0)  # invariant to gain and offset
    assert metrics.ncc(a, -a) == pytest.approx(-1.0)
    c = np.ones((8, 8))
    assert metrics.ncc(c, c) == 1.0 and metrics.ncc(c, a[:8, :8]) == 0.0
    x = np.tile([0.0, 1.0], (4, 4))  # columns 0,1,0,1…: shifting by one column flips it
    assert metrics.ncc(x, np.roll(x, 1, axis=1)) == pytest.approx(-1.0)


def test_mutual_information_hand_cases():
    half = np.zeros((8, 8))
    half[:, 4:] = 1.0  # two equally likely values: H = 1 bit
    assert metrics.mutual_information(half, half, 1.0) == pytest.approx(1.0)
    assert metrics.mutual_information(half, 1 - half, 1.0) == pytest.approx(1.0)  # a relabelling keeps MI
    quarters = np.zeros((8, 8))
    quarters[4:, :] = 1.0  # independent of `half`
    assert metrics.mutual_information(half, quarters, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert metrics.mutual_information(np.full((8, 8), 0.3), half, 1.0) == pytest.approx(0.0, abs=1e-12)


def test_spatial_frequency_hand_cases():
    assert metrics.spatial_frequency(np.full((8, 8), 0.7), 1.0) == 0.0
    checker = np.indices((8, 8)).sum(0) % 2.0  # every neighbour differs by 1 → RF = CF = 1
    assert metrics.spatial_frequency(checker, 1.0) == pytest.approx(math.sqrt(2))
    assert metrics.spatial_frequency(checker * 255, 255.0) == pytest.approx(math.sqrt(2))  # data_range normalises
    stripes = np.tile([0.0, 1.0], (8, 4))  # only horizontal changes
    assert metrics.spatial_frequency(stripes, 1.0) == pytest.approx(1.0)


def test_mean_gradient_hand_cases():
    ramp = np.tile(np.arange(10) * 0.1, (6, 1))  # Δx = 0.1, Δy = 0
    assert metrics.mean_gradient(ramp, 1.0) == pytest.approx(0.1 / math.sqrt(2))
    assert metrics.mean_gradient(ramp.T, 1.0) == pytest.approx(0.1 / math.sqrt(2))
    assert metrics.mean_gradient(np.zeros((5, 5)), 1.0) == 0.0
    assert metrics.mean_gradient(np.stack([ramp, 0 * ramp]), 1.0) == pytest.approx(0.05 / math.sqrt(2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(np.zeros((4, 4)), np.zeros((4, 5)), 1.0)
    with pytest.raises(ValueError, match="data_range"):
        metrics.psnr(np.zeros((4, 4)), np.zeros((4, 4)), 0)
