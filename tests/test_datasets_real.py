"""Real-scan corpus: role separation by family, label maps, readers (NRRD, InVesalius), and what ingest makes of it."""
from __future__ import annotations

import dataclasses
import io
import json
import plistlib
import tarfile
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest

from medray.config import InputError
from medray.datasets import sources as SRC
from medray.datasets import tissue_labels as TL
from medray.imaging.invesalius import load_inv3
from medray.imaging.nrrd import load_nrrd

DEBIAN = ("mricron-data", "invesalius-examples", "insighttoolkit5-examples")


def _missing() -> dict:
    return {s.key: s.missing() for s in SRC.SOURCES if s.missing()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    missing = _missing()
    if missing:
        pytest.skip(f"real-corpus sources not installed (run ./scripts/setup as root: Debian {', '.join(DEBIAN)} "
                    f"and the pyradiomics sdist in $MEDRAY_DATA): {sorted(missing)}")
    from medray.datasets.real_corpus import build_real_corpus

    out = tmp_path_factory.mktemp("real")
    return out, build_real_corpus(out, require_all=True)


def test_registry_roles_are_disjoint_by_family():
    SRC.check_roles()
    roles_of = {}
    for s in SRC.SOURCES:
        roles_of.setdefault(s.family, set()).add(s.role)
    assert all(len(r) == 1 for r in roles_of.values())
    assert roles_of["icbm152"] == {SRC.TRAIN}  # every ICBM152-derived image is one source, on one side
    ev = SRC.by_role(SRC.EVAL)
    assert {"CT", "MR"} <= {m for s in ev for m in s.modality.split("+")} and len({s.family for s in ev}) >= 3
    split = [*SRC.SOURCES, dataclasses.replace(SRC.SOURCES[0], key="mni-eval-copy", role=SRC.EVAL)]
    with pytest.raises(ValueError, match="icbm152"):
        SRC.check_roles(split)


def test_corpus_roles_files_and_labels(corpus):
    out, m = corpus
    assert json.loads((out / "manifest.json").read_text()) == m and not m["missing"]
    train, ev = set(m["roles"]["train"]), set(m["roles"]["eval"])
    assert train and ev and not train & ev
    fam = {v["source"]: v["family"] for v in m["volumes"]}
    assert not {fam[s] for s in train} & {fam[s] for s in ev}
    assert {fam[s] for s in train} >= {"icbm152"} and "icbm152" not in {fam[s] for s in ev}
    for v in m["volumes"]:  # every file sits under its own role's folder, and is real
        assert v["real"] is True and v["path"].startswith(f"{v['role']}/") and (out / v["path"]).is_file()
    written = {p.name.split(".")[0] for p in (out / "train").rglob("*.nii.gz")}
    assert written == train  # nothing of an eval source under train/
    labels = {v["source"]: v["labels"] for v in m["volumes"] if v["labels"]}
    assert set(labels) == {"mni152-2009a", "colin27", "itk-kmeans-t1", "pyradiomics-brain1", "pyradiomics-brain2"}
    for key in ("mni152-2009a", "colin27", "itk-kmeans-t1"):
        assert set(labels[key]["voxels"]) == {"0", "10", "11", "12"}
    assert set(labels["pyradiomics-brain2"]["voxels"]) == {"0", "4"}
    for key in ("colin27", "itk-kmeans-t1"):  # T1 order: CSF darker than GM darker than WM
        folder = out / labels[key]["path"].rsplit("/", 1)[0]
        t1 = np.asarray(nib.load(folder / f"{key}_t1.nii.gz").dataobj, dtype=np.float32)
        seg = np.asarray(nib.load(folder / f"{key}_seg.nii.gz").dataobj)
        means = TL.tissue_means(t1, seg)
        assert means[TL.CSF] < means[TL.GM] < means[TL.WM], (key, means)


def test_corpus_ingests_without_rejects_and_eval_is_big_enough(corpus):
    from medray.ingest.discover import discover
    from medray.ingest.process import Options, process_unit

    out, _ = corpus
    for role in SRC.ROLES:
        d = discover([out / role], salt="t")
        assert d.units and not d.rejects, [r for r in d.rejects]
    d = discover([out / "eval"], salt="t")
    rows = {}
    for u in d.units:
        table, rejects = process_unit({**u, "split": "test"}, Options(scales=(2,)))
        assert not rejects and table.num_rows, u["paths"]
        modality = table.column("modality")[0].as_py()
        rows[modality] = rows.get(modality, 0) + table.num_rows
    assert rows.get("CT", 0) > 0 and rows.get("MR", 0) > 0 and sum(rows.values()) >= 40, rows


def test_tissue_labels_survive_the_mask_column(corpus):
    """Ingest keeps 10/11/12 in ``mask`` (uint8, nearest resize) once a labelled T1 reaches it as a BraTS unit."""
    from medray.ingest.process import Options, process_unit

    out, m = corpus
    folder = out / "labels" / "eval" / "itk-kmeans-t1"
    t1 = str(folder / "itk-kmeans-t1_t1.nii.gz")
    unit = {"kind": "brats", "patient_id": "p", "series_id": "s", "split": "test",
            "paths": {"t1": t1, "t1ce": t1, "t2": t1, "flair": t1, "seg": str(folder / "itk-kmeans-t1_seg.nii.gz")}}
    table, rejects = process_unit(unit, Options(scales=(2,), slice_step=8))
    assert not rejects and table.num_rows
    values = set(np.unique(np.concatenate([np.asarray(c) for c in table.column("mask").to_pylist()])).tolist())
    assert values == {0, 10, 11, 12}


def test_tissue_label_rules():
    brain = np.zeros((4, 4, 4), bool)
    brain[1:3, 1:3, 1:3] = True
    csf, gm, wm = (np.zeros(brain.shape) for _ in range(3))
    gm[1, 1, 1], wm[2, 2, 2], csf[1, 2, 1] = 0.9, 0.8, 0.7
    lab = TL.from_probabilities(brain, csf, gm, wm)
    assert lab[1, 1, 1] == TL.GM and lab[2, 2, 2] == TL.WM and lab[1, 2, 1] == TL.CSF and lab[0, 0, 0] == 0
    rng = np.random.default_rng(0)
    t1 = np.concatenate([rng.normal(m, 2, 400) for m in (20, 60, 100)]).reshape(12, 10, 10)
    lab, (lo, hi) = TL.from_intensity(t1, np.ones(t1.shape, bool))
    assert 20 < lo < 60 < hi < 100 and (lab == TL.WM).sum() == 400
    assert TL.from_itk_kmeans(np.arange(7)).tolist() == [0, 0, 0, 0, 10, 11, 12]
    assert set(np.unique(TL.tumour_from_roi(np.array([0, 1, 3])))) == {0, 4}


def _nrrd_bytes(data: np.ndarray, header: dict) -> bytes:
    buf = io.BytesIO()
    nrrd.write(buf, data, header)  # pynrrd accepts a file object
    return buf.getvalue()


def test_nrrd_reader_turns_lps_into_ras(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    hdr = {"space": "left-posterior-superior", "space directions": np.diag([0.5, 0.5, 2.0]),
           "space origin": np.zeros(3)}
    blob = _nrrd_bytes(data, hdr)
    vol, aff, zooms = load_nrrd(blob)
    assert zooms == (0.5, 0.5, 2.0) and vol.shape == data.shape
    assert np.array_equal(vol, data[::-1, ::-1, :])  # L→R and P→A flipped into RAS+
    assert np.all(np.diag(aff)[:3] > 0)
    (tmp_path / "v.nrrd").write_bytes(blob)
    assert np.array_equal(load_nrrd(tmp_path / "v.nrrd")[0], vol)
    with pytest.raises(InputError) as e:
        load_nrrd(b"NRRD0004\nnot a header\n")
    assert e.value.reason == "not_nrrd"
    with pytest.raises(InputError) as e:
        load_nrrd(_nrrd_bytes(np.zeros((2, 2, 2, 2), np.int16), {}))
    assert e.value.reason == "unsupported_4d"


def _inv3(path: Path, matrix: np.ndarray, declared_shape=None) -> Path:
    meta = {"matrix": {"dtype": "int16", "filename": "matrix.dat", "shape": list(declared_shape or matrix.shape)},
            "spacing": [0.5, 0.5, 2.0], "modality": "CT", "name": "x"}
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in (("p/main.plist", plistlib.dumps(meta)), ("p/matrix.dat", matrix.astype("<i2").tobytes())):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def test_invesalius_reader(tmp_path):
    m = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) - 1000  # (slices, rows, cols)
    vol, aff, zooms, header = load_inv3(_inv3(tmp_path / "a.inv3", m))
    assert header["modality"] == "CT" and zooms == (0.5, 0.5, 2.0) and vol.shape == (4, 3, 2)
    assert vol[0, 0, 0] == m[0, 0, -1] and vol[-1, 0, 0] == m[0, 0, 0]  # columns run to the patient's left
    with pytest.raises(InputError) as e:
        load_inv3(_inv3(tmp_path / "b.inv3", m, declared_shape=(3, 3, 4)))
    assert e.value.reason == "truncated"
    (tmp_path / "c.inv3").write_bytes(b"not a tar")
    with pytest.raises(InputError):
        load_inv3(tmp_path / "c.inv3")


def test_cli_demo_data_source_flag():
    from medray.cli import build_parser

    args = build_parser().parse_args(["demo-data", "--out", "x", "--source", "real"])
    assert args.source == "real"
    assert build_parser().parse_args(["demo-data", "--out", "x"]).source == "synthetic"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo-data", "--out", "x", "--source", "fake"])
