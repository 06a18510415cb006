"""Readers on real files: nilearn MNI152, nibabel's test data, pydicom's test DICOM; plus co-registration."""

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from medray.config import InputError
from medray.imaging.dicom import read_header, read_series
from medray.imaging.nifti import guess_modality, load_volume
from medray.ingest.register import align_to, estimate_shift
from tests.fixtures_data import nibabel_test_dir, pydicom_test_dir


def test_mni_template_loads_as_mr(mni_t1_path):
    vol, affine, zooms = load_volume(mni_t1_path)
    assert vol.shape == (99, 117, 95) and zooms == (2.0, 2.0, 2.0)
    assert guess_modality(vol) == "MR" and vol.max() > 0
    assert np.allclose(np.diag(affine)[:3], [2, 2, 2])  # canonical RAS+


@pytest.mark.parametrize("name,reason", [
    ("anatomical.nii", None), ("standard.nii.gz", None), ("scaled+tlrc.HEAD", None),
    ("example4d.nii.gz", "unsupported_4d"), ("example_nifti2.nii.gz", "unsupported_4d"),
    ("analyze.hdr", "unreadable"), ("row_major.dconn.nii", "not_image"),
])
def test_nibabel_test_data(name, reason):
    path = nibabel_test_dir() / name
    if not path.exists():
        pytest.skip(f"{name} not in this nibabel wheel")
    if reason is None:
        vol, _, _ = load_volume(path)
        assert vol.ndim == 3 and np.isfinite(vol).all()
    else:
        with pytest.raises(InputError) as e:
            load_volume(path)
        assert e.value.reason == reason


def test_ct_hounsfield_units(pydicom_files):
    path = pydicom_test_dir() / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    vol, spacing, errors = read_series([str(path)])
    assert not errors and vol.shape == (128, 128, 1)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.array_equal(vol[..., 0], expected.astype(np.float32))
    assert spacing[:2] == pytest.approx((0.661468, 0.661468))
    assert read_header(path)["modality"] == "CT"


def test_compressed_transfer_syntaxes_decode_losslessly(pydicom_files):
    ref, _, _ = read_series([str(pydicom_test_dir() / "MR_small.dcm")])
    for name in ("MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm"):
        vol, _, errors = read_series([str(pydicom_test_dir() / name)])
        assert not errors, (name, errors)
        assert np.array_equal(vol, ref), name
    big, _, errors = read_series([str(pydicom_test_dir() / "693_J2KI.dcm")])  # JPEG 2000 head CT
    assert not errors and big.shape == (512, 512, 1) and big.max() > 500


def test_multiframe_file_gives_one_slice_per_frame(tmp_path):
    ds = pydicom.dcmread(pydicom_test_dir() / "MR_small.dcm")
    a = ds.pixel_array
    frames = np.stack([a, a + 1, a + 2]).astype(a.dtype)
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(tmp_path / "mf.dcm")
    vol, _, errors = read_series([str(tmp_path / "mf.dcm")])
    assert not errors and vol.shape == (64, 64, 3)
    assert np.array_equal(vol[..., 2] - vol[..., 0], np.full((64, 64), 2.0, np.float32))


def test_series_ordered_by_position_not_name(tmp_path):
    src = pydicom.dcmread(pydicom_test_dir() / "CT_small.dcm")
    series = generate_uid()
    for name, z in (("a.dcm", 20.0), ("b.dcm", 0.0), ("c.dcm", 10.0)):
        ds = pydicom.dcmread(pydicom_test_dir() / "CT_small.dcm")
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series, generate_uid()
        ds.ImagePositionPatient = [src.ImagePositionPatient[0], src.ImagePositionPatient[1], z]
        ds.InstanceNumber = 1  # misleading on purpose: position wins
        ds.PixelData = (ds.pixel_array + int(z)).astype(ds.pixel_array.dtype).tobytes()
        ds.save_as(tmp_path / name)
    vol, spacing, errors = read_series([str(tmp_path / n) for n in ("a.dcm", "b.dcm", "c.dcm")])
    assert not errors and vol.shape == (128, 128, 3) and spacing[2] == pytest.approx(10.0)
    assert np.allclose([vol[..., k].mean() - vol[..., 0].mean() for k in range(3)], [0, 10, 20])


@pytest.mark.parametrize("name,reason", [
    ("rtplan.dcm", "not_image"), ("SC_rgb_rle.dcm", "colour"), ("examples_palette.dcm", "colour"),
    ("rtdose.dcm", "unsupported_modality"),
])
def test_dicom_header_refusals(name, reason):
    path = pydicom_test_dir() / name
    if not path.exists():
        pytest.skip(f"{name} not in this pydicom wheel")
    with pytest.raises(InputError) as e:
        read_header(path)
    assert e.value.reason == reason


def test_truncated_dicom_is_typed():
    _, _, errors = read_series([str(pydicom_test_dir() / "MR_truncated.dcm")])
    assert [e.reason for _, e in errors] == ["truncated"]


def test_registration_recovers_shift_and_resamples_grids(mni_t1_path):
    ref, aff, _ = load_volume(mni_t1_path)
    moved = np.roll(ref, (3, -2, 1), axis=(0, 1, 2))
    assert estimate_shift(ref, moved).tolist() == [-3.0, 2.0, -1.0]
    back, how = align_to(ref, aff, moved, aff)
    assert how["method"] == "phase_cross_correlation"
    inner = (slice(5, -5),) * 3
    assert np.array_equal(back[inner], ref[inner])
    coarse = ref[::2, ::2, ::2]  # same anatomy on a 4 mm grid
    coarse_aff = aff.copy()
    coarse_aff[:3, :3] *= 2
    res, how = align_to(ref, aff, coarse, coarse_aff)
    assert how["method"] == "affine_resample" and res.shape == ref.shape
    assert np.corrcoef(res.ravel(), ref.ravel())[0, 1] > 0.95
