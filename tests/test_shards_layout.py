"""The one ``shard_files``: finds shards under OUT or OUT/shards, skips files that are not slice shards, and
says clearly when there are none (unless the caller, like ingest clearing a previous run, accepts none)."""
import shutil

import pytest

from medray.config import InputError
from medray.shards import layout
from tests.train_shards import write_tiny_shards


def test_shard_files_under_out_or_shards_folder_skip_non_shards(tmp_path):
    shards = write_tiny_shards(layout.shards_dir(tmp_path), slices=1)  # also writes a vitals.parquet beside them
    (shards / "part-0001.parquet").write_bytes(b"PAR1 truncated")  # what a crashed writer can leave
    shutil.copy(shards / "vitals.parquet", tmp_path / layout.VITALS)
    want = [shards / "part-0000.parquet"]
    assert layout.shard_files(tmp_path) == want
    assert layout.shard_files(shards) == want


def test_shard_files_errors_and_missing_ok(tmp_path):
    with pytest.raises(InputError, match="no_shards"):
        layout.shard_files(tmp_path / "nope")
    (tmp_path / layout.SHARDS).mkdir()
    with pytest.raises(InputError, match="empty_shards"):
        layout.shard_files(tmp_path)
    assert layout.shard_files(tmp_path, missing_ok=True) == []
    assert layout.shard_files(tmp_path / "nope", missing_ok=True) == []
