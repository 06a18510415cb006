"""Discovery and grouping (driver side, no Ray): BraTS folders, DICOM series, ignored and refused files."""
import shutil

import nibabel as nib
import numpy as np
import pydicom
from pydicom.uid import generate_uid

from medray.ingest.deid import pseudonym
from medray.ingest.discover import discover
from tests.fixtures_data import pydicom_test_dir


def _nii(path, value=1.0):
    nib.save(nib.Nifti1Image(np.full((4, 4, 4), value, np.float32), np.eye(4)), path)


def test_grouping_rules(tmp_path):
    full = tmp_path / "P1"
    full.mkdir()
    for role in ("t1", "t1ce", "t2", "flair", "seg"):
        _nii(full / f"P1_{role}.nii.gz")
    part = tmp_path / "P2"
    part.mkdir()
    for role in ("t1", "seg"):
        _nii(part / f"P2_{role}.nii.gz")  # one contrast + its label map: a 1-channel unit
    three = tmp_path / "P3"
    three.mkdir()
    for role in ("t1", "t2", "seg"):
        _nii(three / f"P3_{role}.nii.gz")  # two of four contrasts: refused
    _nii(tmp_path / "lonely_t1.nii")  # one BraTS-like name alone is just a volume
    series = generate_uid()
    (tmp_path / "ser").mkdir()
    for i in range(3):
        ds = pydicom.dcmread(pydicom_test_dir() / "CT_small.dcm")
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series, generate_uid()
        ds.save_as(tmp_path / "ser" / f"IM{i}")  # extension-less, found by the DICM magic
    shutil.copy(tmp_path / "ser" / "IM0", tmp_path / "ser" / "IM0_copy.dcm")  # same instance twice
    (tmp_path / "readme.md").write_text("# not a scan")
    (tmp_path / "ser" / "loop").symlink_to(tmp_path)  # a symlink loop is walked once, not forever

    d = discover([tmp_path], salt="s")
    kinds = sorted(u["kind"] for u in d.units)
    assert kinds == ["brats", "brats", "dicom", "nifti"]
    brats, single = sorted((u for u in d.units if u["kind"] == "brats"), key=lambda u: len(u["paths"]), reverse=True)
    assert set(brats["paths"]) == {"t1", "t1ce", "t2", "flair", "seg"}
    assert brats["channels"] == ["t1", "t1ce", "t2", "flair"]
    assert set(single["paths"]) == {"t1", "seg"} and single["channels"] == ["t1"]
    assert single["patient_id"] == pseudonym("s", "patient", "P2")
    assert brats["patient_id"] == pseudonym("s", "patient", "P1")
    dicom = next(u for u in d.units if u["kind"] == "dicom")
    assert len(dicom["paths"]) == 3 and dicom["modality"] == "CT"
    assert dicom["patient_id"] == pseudonym("s", "patient", "1CT1")
    assert sorted((r.reason, r.path.rsplit("/", 1)[-1]) for r in d.rejects) == [
        ("duplicate", "IM0_copy.dcm"), ("incomplete_brats", "P3_seg.nii.gz"), ("incomplete_brats", "P3_t1.nii.gz"),
        ("incomplete_brats", "P3_t2.nii.gz")]
    assert d.n_ignored == 1
    assert "1CT1" not in repr(d.units) and series not in repr(d.units)  # units carry pseudonyms only


def test_time_limit_survives_code_that_swallows_exceptions():
    import time

    import pytest

    from medray.config import InputError
    from medray.imaging.timeout import time_limit

    t0 = time.perf_counter()
    swallowed = []
    with pytest.raises(InputError) as e:
        with time_limit(0.05):
            try:
                time.sleep(2)
            except Exception as err:  # like a reader that catches everything once…
                swallowed.append(err)
            time.sleep(2)  # …the limit fires again here
    assert e.value.reason == "timeout" and len(swallowed) == 1 and time.perf_counter() - t0 < 1.5
    with time_limit(5.0) as lim:
        assert lim.enforced
