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


def _entropy_bits(*codes) -> float:
    """Shannon entropy (bits) of the joint of integer code arrays, from value counts."""
    _, counts = np.unique(np.stack([c.ravel() for c in codes]), axis=1, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def test_ncc_and_mi_average_channels_instead_of_pooling():
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 32, 32))
    # independent noise per channel, but channel 1 sits 5 units higher in both: pooling calls that "correlation"
    x, y = np.stack([a, a + 5]), np.stack([b, b + 5])
    assert metrics.ncc(x, y) == pytest.approx(np.mean([metrics.ncc(a, b), metrics.ncc(a + 5, b + 5)]))
    assert abs(metrics.ncc(x, y)) < 0.1 and np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.9
    half = np.zeros((8, 8))
    half[:, 4:] = 1.0
    two = np.stack([0.2 * half, 0.2 * half + 0.6])  # pooled: 4 equiprobable values → 2 bits; per channel 1 bit
    assert metrics.mutual_information(two, two, 1.0) == pytest.approx(1.0)


def test_mi_in_bits_matches_entropy_definition():
    rng = np.random.default_rng(4)
    x = rng.random((3, 24, 24))
    y = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0, 1)
    bins = 8
    code = lambda v: np.minimum((v * bins).astype(int), bins - 1)  # noqa: E731  equal bins over [0, 1]
    ref = np.mean([_entropy_bits(code(p)) + _entropy_bits(code(q)) - _entropy_bits(code(p), code(q))
                   for p, q in zip(x, y)])
    assert metrics.mutual_information(x, y, 1.0, bins=bins) == pytest.approx(ref, abs=1e-9)


def _head(n=96, r=20, seed=5):
    """A disk 'head' (with a dark 'ventricle' hole) on a large empty background, and a noisy copy of it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((n, n)) - n / 2
    d = np.hypot(yy, xx)
    ref = np.where(d < r, 0.4 + 0.4 * rng.random((n, n)), 0.0)
    ref[d < 4] = 0.0
    out = np.where(d < r + 2, np.clip(ref + 0.05 * rng.standard_normal((n, n)), 0, 1), 0.0)
    return out, ref, d


def test_body_mask_fills_holes_drops_specks_and_dilates():
    _, ref, d = _head()
    ref[2, 2] = 0.9  # a speck of noise in the air
    m = metrics.body_mask(ref, 1.0, dilate_px=3)
    assert m[d < 20].all() and not m[d > 24].any() and not m[2, 2]
    assert m[d < 4].all()  # the hole is body
    assert not metrics.body_mask(ref, 1.0, dilate_px=0)[(d > 20.5) & (d < 22)].any()
    assert not metrics.body_mask(np.zeros((16, 16)), 1.0).any()
    assert (metrics.body_mask(np.stack([ref, ref]), 1.0) == metrics.body_mask(ref, 1.0)).all()


def test_foreground_metrics_agree_with_skimage_and_differ_from_whole_slice():
    out, ref, _ = _head()
    m = metrics.body_mask(ref, 1.0)
    assert metrics.psnr_fg(out, ref, 1.0) == pytest.approx(peak_signal_noise_ratio(ref[m], out[m], data_range=1.0))
    _, smap = structural_similarity(ref, out, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    assert metrics.ssim_fg(out, ref, 1.0) == pytest.approx(smap[5:-5, 5:-5][m[5:-5, 5:-5]].mean(), abs=1e-9)
    # errors sit inside the body: the air adds perfect pixels, +10·log10(N / N_body) dB for whole-slice PSNR
    gap = metrics.psnr(out, ref, 1.0) - metrics.psnr_fg(out, ref, 1.0)
    assert gap == pytest.approx(10 * np.log10(m.size / m.sum())) and gap > 5
    assert metrics.ssim(out, ref, 1.0) - metrics.ssim_fg(out, ref, 1.0) > 0.02
    # an explicit mask is used as given; an empty one is undefined, not a perfect score
    assert metrics.psnr_fg(out, ref, 1.0, mask=np.ones_like(m)) == pytest.approx(metrics.psnr(out, ref, 1.0))
    empty = np.zeros_like(m)
    assert math.isnan(metrics.psnr_fg(out, ref, 1.0, mask=empty)) and math.isnan(metrics.ssim_fg(out, ref, 1.0, empty))
    with pytest.raises(ValueError, match="mask shape"):
        metrics.psnr_fg(out, ref, 1.0, mask=m[:10])


def test_foreground_batch_versions_match_numpy():
    out, ref, _ = _head()
    out2, ref2, _ = _head(seed=6)
    x = torch.from_numpy(np.stack([out, out2]))[:, None]
    y = torch.from_numpy(np.stack([ref, ref2]))[:, None]
    want_p = [metrics.psnr_fg(out, ref, 1.0), metrics.psnr_fg(out2, ref2, 1.0)]
    want_s = [metrics.ssim_fg(out, ref, 1.0), metrics.ssim_fg(out2, ref2, 1.0)]
    assert torch.allclose(metrics.psnr_fg_batch(x, y, 1.0), torch.tensor(want_p, dtype=torch.float64))
    assert torch.allclose(metrics.ssim_fg_batch(x, y, 1.0), torch.tensor(want_s, dtype=torch.float64))
    masks = torch.zeros(2, 96, 96, dtype=torch.bool)
    assert metrics.psnr_fg_batch(x, y, 1.0, mask=masks).isnan().all()


def test_metrics_do_not_import_losses():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(metrics))
    mods = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in mods if m and m.startswith("medray")]
