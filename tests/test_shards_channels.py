"""Channels as samples: each channel of a multi-channel row becomes a single-channel row with the right pixels."""
import numpy as np
import pyarrow as pa
import pytest

from medray.shards.channels import explode_channels
from medray.shards.schema import decode_image, encode_image


def _table(rng):
    four = rng.random((4, 8, 8)).astype(np.float32)
    one = rng.random((1, 8, 8)).astype(np.float32)
    lr4, lr1 = four[:, ::2, ::2], one[:, ::2, ::2]
    return pa.table({
        "patient_id": ["a", "b"], "channels": ["t1,t1ce,t2,flair", "ct"],
        "n_channels": pa.array([4, 1], pa.int8()),
        "hr": [encode_image(four), encode_image(one)], "lr_x2": [encode_image(lr4), encode_image(lr1)],
        "mask": pa.array([np.arange(64, dtype=np.uint8) % 3, None], pa.list_(pa.uint8())),
    }), four, one


def test_explode_splits_pixels_channel_by_channel():
    t, four, one = _table(np.random.default_rng(0))
    out = explode_channels(t)
    assert out.num_rows == 5
    assert out.column("n_channels").to_pylist() == [1] * 5
    assert out.column("channels").to_pylist() == ["t1", "t1ce", "t2", "flair", "ct"]
    assert out.column("patient_id").to_pylist() == ["a"] * 4 + ["b"]
    hr = out.column("hr").to_pylist()
    for k in range(4):
        np.testing.assert_allclose(decode_image(hr[k], 1, 8)[0], four[k], atol=1 / 65535)
        np.testing.assert_allclose(decode_image(out.column("lr_x2")[k].as_py(), 1, 4)[0], four[k, ::2, ::2],
                                   atol=1 / 65535)
    np.testing.assert_allclose(decode_image(hr[4], 1, 8)[0], one[0], atol=1 / 65535)
    masks = out.column("mask").to_pylist()
    assert masks[0] == masks[3] and masks[4] is None
    assert out.schema == t.schema


def test_single_channel_tables_pass_through_and_null_images_are_refused():
    t, _, _ = _table(np.random.default_rng(1))
    ones = t.slice(1, 1)
    assert explode_channels(ones) is ones
    broken = t.set_column(t.column_names.index("lr_x2"), "lr_x2", pa.array([None, None], t.schema.field("lr_x2").type))
    with pytest.raises(ValueError, match="null cells"):
        explode_channels(broken)


def test_shard_reader_offers_every_channel_of_every_row(tiny_shards):
    from medray.shards.layout import shard_files
    from medray.shards.local import read_rows_local
    import pyarrow.parquet as pq

    rows = pa.concat_tables([pq.read_table(f, columns=["split", "n_channels"]) for f in shard_files(tiny_shards)])
    train = rows.filter(pa.compute.equal(rows.column("split"), "train"))
    expected = int(np.sum(train.column("n_channels").to_numpy()))
    assert set(train.column("n_channels").to_pylist()) == {1, 4}  # BraTS and DICOM rows both present
    t = read_rows_local(tiny_shards, "train", scale=2, n_channels=1, channels_as_samples=True)
    assert t.num_rows == expected
    assert set(t.column("n_channels").to_pylist()) == {1}
    assert all(len(c) == 128 * 128 for c in t.column("lr_x2").to_pylist()[:8])
