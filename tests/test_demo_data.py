"""medray demo-data: layout, labels, contrast directions, determinism, vitals, manifest (3 patients, seed 0)."""
import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from medray.config import ConfigError
from medray.datasets.anatomy import load_anatomy
from medray.datasets.demo_corpus import make_demo_data, make_patient

MODS = ("t1", "t1ce", "t2", "flair", "seg")
N = 3  # smallest cohort with a healthy patient and all three vitals states


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    manifest = make_demo_data(out, patients=N, seed=0)
    return out, manifest


def _vol(out: Path, pid: str, mod: str) -> np.ndarray:
    return np.asarray(nib.load(out / "brats" / pid / f"{pid}_{mod}.nii.gz").dataobj)


def _pids(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "brats").iterdir())


def test_layout_and_affine(demo):
    out, manifest = demo
    pids = _pids(out)
    assert pids == [f"DEMO-{i:04d}" for i in range(1, N + 1)]
    for pid in pids:
        shapes = set()
        for mod in MODS:
            img = nib.load(out / "brats" / pid / f"{pid}_{mod}.nii.gz")
            shapes.add(img.shape)
            assert np.allclose(np.abs(np.diag(img.affine)[:3]), 2.0)  # 2 mm grid, proper affine
            assert img.header.get_sform(coded=True)[1] == 1
        assert shapes == {(99, 117, 95)}
    assert (out / "vitals.csv").is_file() and (out / "demo_manifest.json").is_file()
    assert json.loads((out / "demo_manifest.json").read_text()) == manifest


def test_labels_tumour_and_healthy_patients(demo):
    out, manifest = demo
    by_id = {p["patient_id"]: p for p in manifest["patients"]}
    kinds = set()
    for pid in _pids(out):
        labels = set(np.unique(_vol(out, pid, "seg")).tolist())
        assert labels <= {0, 1, 2, 4}
        if by_id[pid]["has_tumour"]:
            assert labels == {0, 1, 2, 4}
        else:
            assert labels == {0}
        kinds.add(by_id[pid]["has_tumour"])
    assert kinds == {True, False}  # both tumour and healthy patients exist


def test_lesion_contrast_directions(demo):
    """Documented in medray/datasets/tumour.py: T1-dark lesion, T1ce enhancing rim + dark core, T2/FLAIR-bright edema."""
    out, manifest = demo
    for p in (p for p in manifest["patients"] if p["has_tumour"]):
        pid = p["patient_id"]
        seg = _vol(out, pid, "seg")
        v = {m: _vol(out, pid, m).astype(np.float64) for m in ("t1", "t1ce", "t2", "flair")}
        healthy = {m: img[(seg == 0) & (img > 0)] for m, img in v.items()}
        mean = lambda m, l: v[m][seg == l].mean()  # noqa: E731
        assert v["t1"][seg > 0].mean() < np.median(healthy["t1"])
        assert mean("t1ce", 4) > np.percentile(healthy["t1ce"], 99)
        assert mean("t1ce", 1) < np.median(healthy["t1ce"]) < mean("t1ce", 4)
        assert mean("t2", 2) > 1.2 * np.median(healthy["t2"])
        assert mean("flair", 2) > np.percentile(healthy["flair"], 99)
        assert mean("t2", 1) > mean("flair", 1)  # fluid-rich core suppressed on FLAIR, not on T2


def test_modalities_differ(demo):
    out, _ = demo
    pid = _pids(out)[0]
    vols = [_vol(out, pid, m).astype(np.float64).ravel() for m in ("t1", "t1ce", "t2", "flair")]
    for i in range(4):
        for j in range(i + 1, 4):
            brain = (vols[i] > 0) | (vols[j] > 0)
            # stored scale: 1000 = 1.0. T1ce is half real T1 by design (medray/datasets/contrasts.py), so it is closest.
            assert np.abs(vols[i] - vols[j])[brain].mean() > (30 if (i, j) == (0, 1) else 80)


def test_patients_differ_from_each_other(demo):
    out, _ = demo
    pids = _pids(out)
    t1 = [_vol(out, pid, "t1").astype(np.float64) for pid in pids]
    for i in range(len(t1)):
        for j in range(i + 1, len(t1)):
            brain = (t1[i] > 0) | (t1[j] > 0)
            assert np.abs(t1[i] - t1[j])[brain].mean() > 40  # different warps, not just noise (σ ≈ 12)


def test_deterministic_from_seed(demo, tmp_path):
    out, _ = demo
    make_demo_data(tmp_path, patients=N, seed=0)
    for pid in _pids(out):
        for mod in MODS:
            a, b = _vol(out, pid, mod), _vol(tmp_path, pid, mod)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert (out / "vitals.csv").read_bytes() == (tmp_path / "vitals.csv").read_bytes()


def test_other_seed_gives_other_patient():
    anat = load_anatomy()
    a, _, _ = make_patient(anat, 0, seed=0, with_tumour=False)
    b, _, _ = make_patient(anat, 0, seed=1, with_tumour=False)
    assert not np.array_equal(a["t1"], b["t1"])


def test_vitals_physiological_and_varied(demo):
    out, _ = demo
    with open(out / "vitals.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["patient_id", "heart_rate", "spo2", "temperature", "mobility"]
    assert [r["patient_id"] for r in rows] == _pids(out)
    for r in rows:
        assert 40 <= float(r["heart_rate"]) <= 160
        assert 85 <= float(r["spo2"]) <= 100
        assert 35.0 <= float(r["temperature"]) <= 41.0
        assert 0.0 <= float(r["mobility"]) <= 1.0
    mobility = [float(r["mobility"]) for r in rows]
    heart = [float(r["heart_rate"]) for r in rows]
    assert max(mobility) >= 0.5 and min(mobility) <= 0.15  # some patients move, some lie still
    assert max(heart) >= 100  # someone is distressed


def test_dicom_copied_as_is(demo):
    out, manifest = demo
    dicom = [i for i in manifest["items"] if i["path"].startswith("dicom/")]
    names = {Path(i["path"]).name for i in dicom}
    assert {"CT_small.dcm", "MR_small.dcm"} <= names
    assert {i["modality"] for i in dicom} == {"CT", "MR"}
    assert any(pydicom.uid.UID(i["transfer_syntax"]).is_compressed for i in dicom)
    src = Path(pydicom.__file__).parent / "data" / "test_files"
    sops = []
    for item in dicom:
        path = out / item["path"]
        assert path.read_bytes() == (src / path.name).read_bytes()
        ds = pydicom.dcmread(path)
        assert ds.Modality in ("CT", "MR") and ds.get("SamplesPerPixel", 1) == 1
        assert item["real"] is True and "PatientName" in item["phi_like_tags_present"]
        sops.append(ds.SOPInstanceUID)
    assert len(set(sops)) == len(sops)  # no duplicate instance: ingest would reject it


def test_manifest_labels_real_and_synthetic(demo):
    _, manifest = demo
    items = {i["path"]: i for i in manifest["items"]}
    for mod in ("t1ce", "t2", "flair"):
        item = items[f"brats/<PID>/<PID>_{mod}.nii.gz"]
        assert any("synthesised" in s for s in item["synthetic"])
    assert items["brats/<PID>/<PID>_t1.nii.gz"]["real"] and items["brats/<PID>/<PID>_t1.nii.gz"]["source"]["package"] == "nilearn"
    assert items["brats/<PID>/<PID>_seg.nii.gz"]["real"] == []
    assert items["vitals.csv"]["real"] == [] and items["vitals.csv"]["synthetic"]
    assert "tumours and seg" in manifest["synthetic"] and "vitals" in manifest["synthetic"]
    assert any("MNI152" in r for r in manifest["real"])


@pytest.mark.parametrize("kwargs, name", [({"patients": 0}, "patients"), ({"patients": 2.5}, "patients"),
                                          ({"seed": -1}, "seed")])
def test_bad_options_are_refused(tmp_path, kwargs, name):
    with pytest.raises(ConfigError, match=name):
        make_demo_data(tmp_path, **kwargs)
