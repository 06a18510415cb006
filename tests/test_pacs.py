"""PACS round trip against a real Orthanc (tests/fixtures_orthanc.py): a multi-slice CT (InVesalius' Cranium
scan) and MR (nilearn's MNI152 T1) series are stored with STOW-RS in shuffled order, ``medray pacs enhance``
runs, and the derived series are read back from Orthanc: one new series per source, count, geometry, UIDs,
InstanceNumber order, pixel data; a rerun stores nothing; a broken instance is reported and skipped;
``dciodvfy`` finds no more errors in a derived instance than in its source."""
import copy
import io
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from medray.cli import main
from medray.models.checkpoint import save_checkpoint
from medray.models.sr_generator import SRGeneratorConfig, build_generator

pytestmark = pytest.mark.slow  # Orthanc + a model per module: ~30 s on 2 cores
CRANIUM = "/usr/share/doc/invesalius-examples/examples/Cranium.inv3"


def _ct_slices(n: int) -> tuple[list[np.ndarray], float]:
    """n adjacent axial CT slices in HU (InVesalius' Cranium scan, 4× subsampled in-plane), else crops of
    pydicom's CT_small (a real CT slice) when the Debian example data is absent."""
    from pathlib import Path

    if Path(CRANIUM).is_file():
        from medray.imaging.invesalius import load_inv3

        vol, _, spacing, _ = load_inv3(CRANIUM)
        z0 = vol.shape[2] // 2
        return [np.ascontiguousarray(vol[::4, ::4, z0 + i].T) for i in range(n)], round(float(spacing[0]) * 4, 6)
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = src.pixel_array.astype(np.float32) - 1024
    return [hu[4 * i: 4 * i + 96, 4 * i: 4 * i + 96] for i in range(n)], 0.66


def _mr_slices(n: int) -> list[np.ndarray]:
    from nilearn.datasets import load_mni152_template

    vol = np.asarray(load_mni152_template(resolution=2).get_fdata(), np.float32)
    z0 = vol.shape[2] // 2
    return [np.ascontiguousarray(vol[10:90, 10:106, z0 + 2 * i].T) * 1000.0 for i in range(n)]


def _series(template: str, images: list[np.ndarray], study: str, number: int, desc: str, spacing: float,
            intercept: float = 0.0) -> list[Dataset]:
    tmpl = pydicom.dcmread(get_testdata_file(template))
    uid = generate_uid()
    out = []
    for i, img in enumerate(images):
        ds = copy.deepcopy(tmpl)
        ds.PatientName, ds.PatientID = "PACS^Roundtrip", "PACS-RT-1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber = number, desc, i + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(i) * 2.0]
        ds.SliceLocation = float(i) * 2.0
        ds.Rows, ds.Columns = img.shape
        ds.PixelSpacing = [spacing, spacing]
        stored = np.clip(np.round(img - intercept), -32768, 32767).astype(np.int16)
        ds.PixelRepresentation = 1
        ds.PixelData = stored.tobytes()
        for kw in ("SmallestImagePixelValue", "LargestImagePixelValue", "WindowCenter", "WindowWidth"):
            if kw in ds:
                delattr(ds, kw)
        out.append(ds)
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = SRGeneratorConfig(in_channels=1, scale=2, width=8, depth=1)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "iotgan.pt", kind="iotgan", config=cfg,
                           state_dict=build_generator(cfg).state_dict())


def _client(orthanc):
    from medray.serve.pacs import connect

    return connect(orthanc["dicomweb"])


def _upload(client, study: str, series: list[list[Dataset]], seed: int = 0) -> None:
    flat = [ds for s in series for ds in s]
    for i in np.random.default_rng(seed).permutation(len(flat)):  # the PACS sees them in no particular order
        client.store_instances([flat[i]], study_instance_uid=study)


def _derived_of(client, study: str, source: list[Dataset]) -> list[Dataset]:
    src_sops = {ds.SOPInstanceUID for ds in source}
    found = []
    for s in client.search_for_series(study_instance_uid=study, get_remaining=True):
        uid = s["0020000E"]["Value"][0]
        if uid == source[0].SeriesInstanceUID:
            continue
        insts = client.retrieve_series(study, uid)
        refs = {i.SourceImageSequence[0].ReferencedSOPInstanceUID for i in insts if "SourceImageSequence" in i}
        if refs & src_sops:
            found.append(insts)
    assert len(found) == 1, f"{len(found)} derived series point at source series {source[0].SeriesInstanceUID}"
    return sorted(found[0], key=lambda d: int(d.InstanceNumber))


@pytest.fixture(scope="module")
def round_trip(orthanc, checkpoint):
    client = _client(orthanc)
    study = generate_uid()
    ct_imgs, ct_spacing = _ct_slices(4)
    ct = _series("CT_small.dcm", ct_imgs, study, 2, "Cranium axial", ct_spacing, intercept=-1024.0)
    mr = _series("MR_small.dcm", _mr_slices(5), study, 3, "MNI152 T1 axial", 2.0)
    _upload(client, study, [ct, mr])
    rc = main(["pacs", "enhance", "--dicomweb", orthanc["dicomweb"], "--study", study, "--checkpoint", str(checkpoint)])
    return {"client": client, "study": study, "ct": ct, "mr": mr, "rc": rc}


@pytest.mark.parametrize("which", ["ct", "mr"])
def test_derived_series_read_back_from_orthanc(round_trip, checkpoint, which):
    from medray.serve.codecs.dicom import DerivedSeries
    from medray.serve.pacs import LocalEnhancer

    assert round_trip["rc"] == 0
    source = round_trip[which]
    derived = _derived_of(round_trip["client"], round_trip["study"], source)
    assert len(derived) == len(source)
    series_uids = {d.SeriesInstanceUID for d in derived}
    assert len(series_uids) == 1 and source[0].SeriesInstanceUID not in series_uids  # ONE new series
    assert {d.StudyInstanceUID for d in derived} == {round_trip["study"]}
    assert not {d.SOPInstanceUID for d in derived} & {s.SOPInstanceUID for s in source}
    assert derived[0].SeriesDescription.startswith("medray SR x2 ")
    assert int(derived[0].SeriesNumber) == int(source[0].SeriesNumber) + 1000
    enhance = LocalEnhancer(str(checkpoint))
    for src, d in zip(source, derived):  # InstanceNumber order kept, each pointing at its own source
        assert int(d.InstanceNumber) == int(src.InstanceNumber)
        assert d.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert list(d.ImageType[:2]) == ["DERIVED", "SECONDARY"] and d.Modality == src.Modality
        assert (d.Rows, d.Columns) == (src.Rows * 2, src.Columns * 2)
        assert [float(v) for v in d.PixelSpacing] == pytest.approx([float(v) / 2 for v in src.PixelSpacing])
        assert [float(v) for v in d.ImagePositionPatient] == [float(v) for v in src.ImagePositionPatient]
        # pixels: what the pipeline makes of this source, bit for bit, and close to the source at its own size
        buf = io.BytesIO()
        src.save_as(buf, enforce_file_format=True)
        want = pydicom.dcmread(io.BytesIO(enhance(buf.getvalue(), DerivedSeries(d.SeriesInstanceUID), None)))
        np.testing.assert_array_equal(d.pixel_array, want.pixel_array)
        got = d.pixel_array.astype(np.float64).reshape(src.Rows, 2, src.Columns, 2).mean(axis=(1, 3))
        assert np.corrcoef(got.ravel(), src.pixel_array.astype(np.float64).ravel())[0, 1] > 0.9


def test_rerun_stores_no_second_copy(orthanc, round_trip, checkpoint, capsys):
    client = round_trip["client"]
    n_series = len(client.search_for_series(study_instance_uid=round_trip["study"]))
    rc = main(["pacs", "enhance", "--dicomweb", orthanc["dicomweb"], "--study", round_trip["study"],
               "--checkpoint", str(checkpoint)])
    assert rc == 0 and "0 stored, 4 already derived" in capsys.readouterr().out
    assert len(client.search_for_series(study_instance_uid=round_trip["study"])) == n_series == 4
    assert len(_derived_of(client, round_trip["study"], round_trip["ct"])) == 4


def test_a_failed_instance_is_reported_and_skipped(orthanc, checkpoint, capsys):
    client = _client(orthanc)
    study = generate_uid()
    mr = _series("MR_small.dcm", _mr_slices(3), study, 5, "MR with a broken slice", 2.0)
    lut = Dataset()  # a Modality LUT cannot be inverted to write the result back: the codec refuses it
    lut.LUTDescriptor, lut.ModalityLUTType = [2, 0, 16], "US"
    lut.add_new(0x00283006, "US", [0, 1])  # LUTData
    broken = copy.deepcopy(mr[1])
    broken.ModalityLUTSequence = Sequence([lut])
    _upload(client, study, [[mr[0], broken, mr[2]]])
    rc = main(["pacs", "enhance", "--dicomweb", orthanc["dicomweb"], "--study", study, "--series",
               mr[0].SeriesInstanceUID, "--checkpoint", str(checkpoint)])
    out = capsys.readouterr()
    assert rc == 1 and "2 stored, 0 already derived, 1 failed" in out.out
    assert f"failed {mr[1].SOPInstanceUID}" in out.out and "Modality LUT" in out.out
    derived = _derived_of(client, study, mr)
    assert [int(d.InstanceNumber) for d in derived] == [1, 3]


def test_missing_weights_or_series_are_clear_errors(orthanc, tmp_path, capsys, monkeypatch):
    try:  # shipped weights, where this install has them, are hidden: the error must name --checkpoint
        import medray.weights
    except ImportError:
        pass
    else:
        monkeypatch.setattr(medray.weights, "default_checkpoint", lambda *a, **k: None)
    assert main(["pacs", "enhance", "--dicomweb", orthanc["dicomweb"], "--study", "1.2.3"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    assert main(["pacs", "enhance", "--dicomweb", "pacs:8042", "--study", "1.2.3", "--checkpoint", "x.pt"]) == 2
    assert "http://" in capsys.readouterr().err


def _dciodvfy_errors(ds: Dataset, path) -> list[str]:
    ds.save_as(path, enforce_file_format=True)
    res = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("Error")]


@pytest.mark.parametrize("which", ["ct", "mr"])
def test_dciodvfy_no_more_errors_than_the_source(round_trip, which, tmp_path):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy is not installed (Debian package dicom3tools: ./scripts/setup installs it as root)")
    source = round_trip[which][0]
    derived = _derived_of(round_trip["client"], round_trip["study"], round_trip[which])[0]
    src_errors = _dciodvfy_errors(source, tmp_path / "source.dcm")
    derived_errors = _dciodvfy_errors(derived, tmp_path / "derived.dcm")
    assert len(derived_errors) <= len(src_errors), "\n".join(derived_errors)
