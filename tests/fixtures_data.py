"""Session fixtures owned by the data side (ingest); see tests/conftest.py.

* ``mni_t1_path``: nilearn's real MNI152 T1 template (2 mm) saved as NIfTI.
* ``pydicom_files``: real grey-level CT/MR files shipped in the pydicom wheel (present on disk, never downloaded).
* ``demo_data_dir``: ``make_demo_data(out, patients=4, seed=0)`` — BraTS-style NIfTI + pydicom DICOM + vitals.csv.
* ``tiny_shards``: ``run_ingest`` of the demo data with its vitals, every 3rd axial slice (``slice_step=3``) to stay
  small → the ingest output folder (shards under ``shards/``, ``manifest.json``, ``rejects.jsonl``, ``vitals.parquet``);
  train/val/test all present, 4-channel BraTS rows with masks and 1-channel DICOM rows.
"""
from pathlib import Path

import pytest

# grey-level CT/MR in several transfer syntaxes; multi-frame CT/MR is not in the wheel (tests build one)
PYDICOM_CT_MR = ("CT_small.dcm", "MR_small.dcm", "693_J2KI.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm",
                 "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm")
TINY_SLICE_STEP = 3


def pydicom_test_dir() -> Path:
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files"


def nibabel_test_dir() -> Path:
    import nibabel.tests

    return Path(nibabel.tests.__file__).parent / "data"


@pytest.fixture(scope="session")
def mni_t1_path(tmp_path_factory) -> Path:
    import nibabel as nib
    from nilearn.datasets import load_mni152_template

    path = tmp_path_factory.mktemp("mni") / "mni152_t1_2mm.nii.gz"
    nib.save(load_mni152_template(resolution=2), path)
    return path


@pytest.fixture(scope="session")
def pydicom_files() -> list[Path]:
    files = [pydicom_test_dir() / n for n in PYDICOM_CT_MR if (pydicom_test_dir() / n).is_file()]
    if not files:
        pytest.skip("pydicom wheel ships none of the expected CT/MR test files")
    return files


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory) -> Path:
    from medray.datasets.demo_corpus import make_demo_data

    out = tmp_path_factory.mktemp("demo_data")
    make_demo_data(out, patients=4, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_shards(ray_session, demo_data_dir, tmp_path_factory) -> Path:
    from medray.ingest.run import run_ingest

    out = tmp_path_factory.mktemp("tiny_shards")
    summary = run_ingest([demo_data_dir], out, scales=(2, 4), seed=0, salt="medray-test-salt",
                         vitals=demo_data_dir / "vitals.csv", slice_step=TINY_SLICE_STEP)
    assert summary.n_slices > 0, "tiny_shards: ingest of the demo data produced no slices"
    return out
