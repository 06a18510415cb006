"""Every bad-input class → one typed line in rejects.jsonl, while the good files in the same batch are ingested."""
import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medray.ingest.rejects import path_pseudonym
from medray.ingest.run import run_ingest
from tests.fixtures_data import nibabel_test_dir, pydicom_test_dir


def _rejects(out: Path, inputs: list[Path], salt: str = "t") -> dict[str, str]:
    """rejects.jsonl by file name: its paths are pseudonyms, so map each input path through the same keyed hash."""
    lines = (out / "rejects.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert all(set(r) == {"path", "reason", "detail"} for r in rows)
    names = {path_pseudonym(salt, p): p.name for p in inputs}
    assert all("/" not in r["path"] and r["path"] in names for r in rows), rows  # no source path leaks
    return {names[r["path"]]: r["reason"] for r in rows}


@pytest.fixture(scope="module")
def bad_batch(tmp_path_factory, mni_t1_path) -> Path:
    root = tmp_path_factory.mktemp("bad_batch")
    pd = pydicom_test_dir()
    (root / "good").mkdir()
    shutil.copy(pd / "CT_small.dcm", root / "good" / "CT_small.dcm")  # the one good DICOM
    shutil.copy(mni_t1_path, root / "good" / "mni.nii.gz")  # the one good NIfTI
    for sub, name in (("trunc", "MR_truncated.dcm"), ("rtplan", "rtplan.dcm"), ("rgb", "SC_rgb_rle.dcm")):
        (root / sub).mkdir()
        shutil.copy(pd / name, root / sub / name)
    shutil.copy(nibabel_test_dir() / "example4d.nii.gz", root / "fourd.nii.gz")
    rng = np.random.default_rng(0)
    (root / "random.dcm").write_bytes(rng.bytes(4096))
    (root / "random.nii").write_bytes(rng.bytes(4096))
    (root / "empty.dcm").write_bytes(b"")
    (root / "empty.nii.gz").write_bytes(b"")
    os.mkfifo(root / "fifo.dcm")  # opening it would block forever: must be refused without opening
    os.symlink(root / "gone.nii", root / "dangling.nii")  # unreadable: target does not exist
    hdr = nib.Nifti1Header()  # declares 30000³ int16 voxels (54 TB) but holds a few bytes
    hdr.set_data_shape((30000, 30000, 30000))
    hdr.set_data_dtype(np.int16)
    hdr["vox_offset"] = 352
    (root / "huge.nii").write_bytes(hdr.binaryblock + b"\0" * 64)
    raw = nib.load(mni_t1_path)
    nib.save(nib.Nifti1Image(np.asarray(raw.dataobj), raw.affine), root / "cut.nii")
    data = (root / "cut.nii").read_bytes()
    (root / "cut.nii").write_bytes(data[: len(data) // 2])  # header intact, voxels half missing
    (root / "notes.txt").write_text("not a scan: ignored, not refused")
    return root


def test_each_bad_class_is_one_typed_line_and_the_rest_goes_on(ray_session, bad_batch, tmp_path):
    out = tmp_path / "out"
    s = run_ingest([bad_batch], out, scales=(2,), salt="t", slice_step=8, file_timeout_s=30.0)
    got = _rejects(out, list(bad_batch.rglob("*")))
    assert got == {
        "MR_truncated.dcm": "truncated", "rtplan.dcm": "not_image", "SC_rgb_rle.dcm": "colour",
        "fourd.nii.gz": "unsupported_4d", "random.dcm": "not_dicom", "random.nii": "not_nifti",
        "empty.dcm": "zero_byte", "empty.nii.gz": "zero_byte", "fifo.dcm": "unreadable", "dangling.nii": "unreadable",
        "huge.nii": "too_large", "cut.nii": "truncated",
    }
    assert s.n_rejects == len(got) and s.n_ignored == 1
    assert s.counts["slices_by_source_format"] == {"dicom": 1, "nifti": s.n_slices - 1}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rejects_by_reason"]["zero_byte"] == 2


def test_per_file_time_limit_fires_inside_ray_workers(ray_session, mni_t1_path, tmp_path):
    s = run_ingest([mni_t1_path], tmp_path / "out", scales=(2,), salt="t", file_timeout_s=0.001)
    assert s.n_slices == 0
    assert _rejects(tmp_path / "out", [mni_t1_path]) == {mni_t1_path.name: "timeout"}


def test_cli_exits_non_zero_with_one_line_when_nothing_ingested(ray_session, tmp_path, capsys, monkeypatch):
    from medray.cli import main

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.dcm").write_bytes(b"\0" * 300)
    monkeypatch.delenv("MEDRAY_SALT", raising=False)  # no salt: refused up front, nothing written
    assert main(["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "o0")]) == 2
    assert "salt" in capsys.readouterr().err and not (tmp_path / "o0").exists()
    monkeypatch.setenv("MEDRAY_SALT", "cli-test")
    assert main(["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing was ingested" in err[0]
    assert main(["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "o2"), "--ct-window", "liver"]) == 2
    assert "bone" in capsys.readouterr().err
