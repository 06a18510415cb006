"""PixMed's recipe, data and evaluation pieces: presets per kind, lesions drawn on real label maps, tumour-only
counting, the segmenter, and the shipped-weights lookup for the synth family. Tiny and seeded."""
import numpy as np
import pytest
import torch

from medray.config import ConfigError
from medray.datasets.pixmed_corpus import draw_lesion, to_isotropic
from medray.evaluate.classifier import label_from_mask
from medray.evaluate.segmenter import dice, segment, tumour_mask, train_segmenter
from medray.train.options import config_from_sources
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


def test_pixmed_presets_are_the_papers_and_medrays():
    paper = config_from_sources(None, {"model": "pixmed"}, preset="paper")
    assert (paper.lr, paper.beta1, paper.batch_size, paper.max_epochs, paper.patience, paper.patch) == \
        (1e-3, 0.5, 64, 400, 0, 256)
    assert paper.generator["ghost_decoder"] is False and paper.loss == {"w_adv": 1.0, "w_ssim": 1.0, "w_l1": 0.0}
    assert paper.augmentation.scale_range == (286 / 256, 286 / 256) and paper.augmentation.rotation_deg == 0
    fast = config_from_sources(None, {"model": "pixmed", "batch_size": 4}, preset="fast")
    assert fast.patch == 128 and fast.batch_size == 4 and fast.loss["w_l1"] > 0  # flags override the preset
    sr = config_from_sources(None, {"model": "iotgan"}, preset="paper")
    assert sr.lr == 2e-4  # an SR kind keeps the SR recipes
    with pytest.raises(ConfigError, match=r"preset='slow'.*\['fast', 'paper'\]"):
        config_from_sources(None, {"model": "pixmed"}, preset="slow")


def _head(n=48):
    z, y, x = np.mgrid[:n, :n, :n] - n / 2
    r = np.sqrt(x**2 + y**2 + z**2)
    seg = np.zeros((n, n, n), np.uint8)
    seg[r < 20] = 10
    seg[r < 18] = 11
    seg[r < 14] = 12
    t1 = np.select([seg == 12, seg == 11, seg == 10], [100.0, 75.0, 50.0], 0.0).astype(np.float32)
    return t1, seg


def test_draw_lesion_labels_tumour_over_tissue_and_darkens_the_t1():
    t1, seg = _head()
    t1_l, seg_l, summary = draw_lesion(t1, seg, np.random.default_rng(0))
    lesion = np.isin(seg_l, (1, 2, 4))
    assert lesion.any() and set(np.unique(seg_l)) <= {0, 1, 2, 4, 10, 11, 12}
    assert not (lesion & (seg == 0)).any()  # inside the brain only
    assert t1_l[lesion].mean() < t1[lesion].mean()  # every tumour part is T1-hypointense
    assert np.array_equal(t1_l[seg == 0], t1[seg == 0])
    again = draw_lesion(t1, seg, np.random.default_rng(0))
    assert np.array_equal(again[1], seg_l)  # seeded


def test_to_isotropic_scales_grid_and_keeps_labels():
    t1, seg = _head(16)
    aff = np.diag([2.0, 3.0, 2.0, 1.0])
    t1r, segr, affr = to_isotropic(t1, seg, aff)
    assert t1r.shape == (32, 48, 32) and np.allclose(np.diag(affr)[:3], 1.0)
    assert set(np.unique(segr)) == set(np.unique(seg))


def test_only_tumour_labels_count_as_tumour():
    maps = np.zeros((3, 20, 20), np.uint8)
    maps[:, 2:18, 2:18] = 12  # healthy anatomy everywhere
    maps[1, 5:9, 5:9] = 4
    assert label_from_mask(maps).tolist() == [0, 1, 0]
    assert tumour_mask(maps).sum() == 16


def test_segmenter_learns_a_bright_blob_and_dice_is_honest():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.2, (24, 16, 16)).astype(np.float32)
    m = np.zeros((24, 16, 16), np.float32)
    for i in range(24):
        r, c = rng.integers(2, 10, 2)
        m[i, r:r + 5, c:c + 5] = 1
    x = x + 0.7 * m
    seg = train_segmenter(x, m, seed=0, epochs=30, batch_size=8)
    assert dice(segment(seg, x), m) > 0.8
    assert dice(np.zeros_like(m), m) == 0.0 and np.isnan(dice(np.zeros_like(m), np.zeros_like(m)))
    torch.manual_seed(1)  # a second seeded fit gives the same weights
    a = train_segmenter(x[:8], m[:8], seed=3, epochs=1)
    b = train_segmenter(x[:8], m[:8], seed=3, epochs=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_shipped_synth_weights_file_has_no_scale():
    from medray.weights import DEFAULT_KIND, weights_file

    assert DEFAULT_KIND["synth"] == "pixmed" and weights_file("pixmed", None).name == "pixmed.pt"
    assert weights_file("iotgan", 2).name == "iotgan_x2.pt"
