"""A NIfTI shorter than its header declares is refused from the file size, before its data is read."""
import nibabel as nib
import numpy as np
import pytest

from medray.config import InputError
from medray.imaging.nifti import load_header, load_volume


def _nii(tmp_path, shape=(10, 10, 10)):
    p = tmp_path / "a.nii"
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), np.eye(4)), p)
    return p


def test_complete_file_loads(tmp_path):
    vol, _, _ = load_volume(_nii(tmp_path))
    assert vol.shape == (10, 10, 10)


def test_short_file_is_truncated_by_header_arithmetic(tmp_path):
    p = _nii(tmp_path)
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(InputError) as e:
        load_header(p)
    assert e.value.reason == "truncated" and "declares 4352 bytes" in str(e.value)


def test_huge_declared_dims_in_a_small_file_are_refused_at_once(tmp_path):
    p = _nii(tmp_path)
    raw = bytearray(p.read_bytes())
    raw[42:48] = np.array([1000, 1000, 300], dtype="<i2").tobytes()  # dim[1..3] at byte 42: 3e8 voxels in 4 kB
    p.write_bytes(bytes(raw))
    with pytest.raises(InputError) as e:
        load_header(p)
    assert e.value.reason in {"truncated", "too_large"}
