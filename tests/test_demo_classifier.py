"""Tumour-vs-healthy slice classifier: learns a separable toy set, is seeded, refuses bad input."""
import numpy as np
import pytest

from medray.config import InputError
from medray.evaluate.classifier import label_from_mask, train_and_eval_classifier


def _toy(n: int, seed: int, size: int = 32):
    """Noisy background; class 1 carries one bright blob at a random place (a stand-in for a lesion)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.5, (n, size, size)).astype(np.float32)
    y = np.arange(n) % 2
    yy, xx = np.mgrid[:size, :size]
    for i in np.flatnonzero(y):
        cy, cx = rng.integers(6, size - 6, 2)
        x[i][(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = 1.0
    return x, y


def test_beats_chance_on_separable_set():
    xtr, ytr = _toy(64, 0)
    xte, yte = _toy(48, 1)
    r = train_and_eval_classifier(xtr, ytr, xte, yte, seed=0, epochs=5)
    assert r["n_train"] == 64 and r["n_test"] == 48
    assert r["accuracy"] >= 0.85, r
    assert r["train_loss"][-1] < r["train_loss"][0]


def test_seeded_and_accepts_channels():
    xtr, ytr = _toy(32, 2)
    xte, yte = _toy(16, 3)
    a = train_and_eval_classifier(xtr, ytr, xte, yte, seed=5, epochs=2)
    b = train_and_eval_classifier(xtr, ytr, xte, yte, seed=5, epochs=2)
    assert a == b
    c = train_and_eval_classifier(np.repeat(xtr[:, None], 4, 1), ytr, np.repeat(xte[:, None], 4, 1), yte, seed=5, epochs=1)
    assert 0.0 <= c["accuracy"] <= 1.0


def test_label_from_mask():
    masks = np.zeros((3, 32, 32), np.uint8)
    masks[1, 10:20, 10:20] = 2  # 100 px ≈ 10 %
    masks[2, 0, 0] = 4  # one grazing voxel: below the floor
    assert label_from_mask(masks).tolist() == [0, 1, 0]


@pytest.mark.parametrize("bad", ["labels", "shape", "nan"])
def test_bad_input_is_refused(bad):
    x, y = _toy(8, 0)
    if bad == "labels":
        y = y + 2
    elif bad == "shape":
        x = x[:, :4, :4]
    else:
        x[0, 0, 0] = np.nan
    with pytest.raises(InputError):
        train_and_eval_classifier(x, y, x, y, epochs=1)
