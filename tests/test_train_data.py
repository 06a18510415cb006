"""Reading shards for training: selection errors, aligned crops, identical augmentation of LR/HR/mask,
vitals per sample, and the collate that feeds the loop."""
import numpy as np
import pytest
import torch

from medray.config import ConfigError, InputError
from medray.data.augment import AugmentConfig, AugmentParams, NO_AUGMENT, apply_params, augment_image
from medray.data.batches import BatchSpec, EvalCollate, TrainCollate
from medray.data.crops import crop_aligned, random_origin
from medray.shards.decode import decode_batch, table_to_batch
from medray.shards.layout import shard_files
from medray.shards.local import read_rows_local
from medray.shards.selection import check_selection
from tests.train_shards import write_tiny_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_tiny_shards(tmp_path_factory.mktemp("shards"), slices=2)


def test_shard_files_skip_vitals_table_and_errors(shards, tmp_path):
    assert [f.name for f in shard_files(shards)] == ["part-0000.parquet"]
    with pytest.raises(InputError, match="empty_shards"):
        shard_files(tmp_path)
    with pytest.raises(InputError, match="no_shards"):
        shard_files(tmp_path / "nope")


def test_selection_errors_name_what_is_there(tmp_path, shards):
    assert check_selection(shards, "train", n_channels=1) == 6
    with pytest.raises(InputError, match=r"channel counts present: \[1\]"):
        check_selection(shards, "train", n_channels=4)
    only_train = write_tiny_shards(tmp_path, splits=(("train", 1),), slices=1)
    with pytest.raises(InputError, match="missing_split.*'test'"):
        check_selection(only_train, "test")


def test_aligned_crop_matches_downsampling():
    rng = np.random.default_rng(0)
    hr = rng.random((1, 16, 16)).astype(np.float32)
    lr = hr.reshape(1, 8, 2, 8, 2).mean(axis=(2, 4))
    y, x = random_origin(rng, 16, 8, 2)
    assert y % 2 == 0 and x % 2 == 0
    lr_c, hr_c, _ = crop_aligned(lr, hr, None, y, x, 8, 2)
    np.testing.assert_allclose(hr_c.reshape(1, 4, 2, 4, 2).mean(axis=(2, 4)), lr_c, atol=1e-6)


def test_augmentation_is_identical_across_lr_hr_mask():
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    hr = (0.5 + 0.4 * np.sin(5 * yy) * np.cos(3 * xx))[None].astype(np.float32)
    lr = hr.reshape(1, 32, 2, 32, 2).mean(axis=(2, 4))
    mask = (hr[0] > 0.7).astype(np.uint8) * 4
    p = AugmentParams(angle=0.4, zoom=1.08, shift=(0.04, -0.03), flip_h=True, gamma=1.05)
    (hr2, lr2), (m2,) = apply_params(p, [hr, lr], [mask])
    # the transformed HR, downsampled, is the transformed LR (up to interpolation), away from the borders
    err = np.abs(hr2.reshape(1, 32, 2, 32, 2).mean(axis=(2, 4)) - lr2)[:, 4:-4, 4:-4]
    assert err.max() < 0.02
    assert set(np.unique(m2)) <= {0, 4}  # labels stay labels
    # the mask moved with the image: bright HR pixels and mask pixels still coincide
    assert (hr2[0][m2 == 4] > 0.6).mean() > 0.9
    assert not np.allclose(hr2, hr)


def test_augment_image_is_seeded_and_validated():
    img = np.random.default_rng(1).random((2, 32, 32)).astype(np.float32)
    a, _ = augment_image(img, seed=3)
    b, _ = augment_image(img, seed=3)
    c, _ = augment_image(img, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0 <= a.min() and a.max() <= 1
    with pytest.raises(ConfigError, match="square"):
        augment_image(np.zeros((3, 32, 16)), seed=0)
    with pytest.raises(ConfigError, match="scale_range"):
        AugmentConfig(scale_range=(1.2, 0.9))


def test_collates_shapes_vitals_and_epoch_seeding(shards):
    batch = table_to_batch(read_rows_local(shards, "train", scale=2, n_channels=1, limit=4))
    spec = BatchSpec(n_channels=1, scale=2, patch=32, augment=AugmentConfig(), seed=0)
    out = TrainCollate(spec, epoch=0, rank=0)(batch)
    assert out["hr"].shape == (4, 1, 32, 32) and out["lr"].shape == (4, 1, 16, 16)
    assert out["mask"].shape == (4, 32, 32) and out["vitals"].shape == (4, 4)
    assert torch.isfinite(out["vitals"]).all() and out["vitals"][0, 0] >= 70
    again = TrainCollate(spec, epoch=0, rank=0)(batch)
    other = TrainCollate(spec, epoch=1, rank=0)(batch)
    assert torch.equal(out["hr"], again["hr"]) and not torch.equal(out["hr"], other["hr"])
    plain = TrainCollate(BatchSpec(1, 2, 32, augment=NO_AUGMENT), 0, 0)(batch)  # identity transform keeps alignment
    np.testing.assert_allclose(torch.nn.functional.avg_pool2d(plain["hr"], 2), plain["lr"], atol=2e-4)
    ev = EvalCollate(1, 2)(batch)
    assert ev["hr"].shape == (4, 1, 256, 256) and ev["lr"].shape == (4, 1, 128, 128)


def test_missing_vitals_are_nan_and_missing_scale_is_refused(tmp_path):
    s = write_tiny_shards(tmp_path, splits=(("train", 1),), slices=2, scales=(2,), vitals=False)
    batch = table_to_batch(read_rows_local(s, "train"))
    assert torch.isnan(EvalCollate(1, None)(batch)["vitals"]).all()
    raw = table_to_batch(read_rows_local(s, "train", scale=None))
    raw["lr_x4"] = np.array([None, None], dtype=object)
    with pytest.raises(InputError, match="missing_scale"):
        decode_batch(raw, 1, 4)
