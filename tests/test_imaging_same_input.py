"""Issue 12: a scan reaches the model as the same array in training (ingest → shard) and in serving (the codec
decode behind /v1/enhance). Real pydicom CT and MR files, and 256×256×k NIfTI volumes (no resampling in ingest)
with a non-RAS affine so orientation counts too."""

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medray.ingest.process import Options, process_unit
from medray.ingest.slicing import resize_image
from medray.serve.codecs import CodecLimits, decode
from medray.shards import schema as S


def _shard_hr(unit: dict, opts: Options) -> dict[int, np.ndarray]:
    table, rejects = process_unit(unit, opts)
    assert table.num_rows > 0, rejects
    return {int(k): S.decode_image(c, 1, S.SIZE)[0]
            for k, c in zip(table.column("slice_index").to_pylist(), table.column("hr").to_pylist())}


def _assert_same(hr: dict[int, np.ndarray], slices: np.ndarray) -> None:
    for k, img in hr.items():
        served = resize_image(slices[k])[0]  # ingest's resize to 256 (identity for 256×256 input)
        np.testing.assert_allclose(served, img, atol=1e-3, err_msg=f"slice {k}")


def _unit(paths, kind: str, **kw) -> dict:
    return {"paths": paths, "kind": kind, "patient_id": "p", "series_id": "s", "split": "train", **kw}


@pytest.mark.parametrize("name,modality,window", [("CT_small.dcm", "CT", "soft_tissue"), ("CT_small.dcm", "CT", "bone"),
                                                  ("MR_small.dcm", "MR", "soft_tissue")])
def test_dicom_reaches_the_model_as_ingest_stores_it(name, modality, window):
    path = get_testdata_file(name)
    hr = _shard_hr(_unit([path], "dicom", modality=modality), Options(scales=(2,), ct_window=window))
    dec = decode("application/dicom", open(path, "rb").read(), CodecLimits(ct_window=window))
    _assert_same(hr, dec.slices)
    if modality == "CT":  # through the HU window, not min-max: some voxels clip at both ends of soft tissue
        assert dec.meta["intensity"].window == window


def _nifti(modality: str, k: int = 4) -> bytes:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    head = ((yy - 128) ** 2 + (xx - 110) ** 2 < 90 ** 2)[..., None].repeat(k, axis=2)
    if modality == "CT":  # air around soft tissue, a bony rim: HU well outside the soft-tissue window
        vol = np.where(head, rng.normal(40, 60, head.shape), -1000.0)
        vol[:, :20][head[:, :20]] = 1500.0
    else:  # zero background, skewed intensities with a few hot voxels
        vol = np.where(head, rng.gamma(4.0, 100.0, head.shape), 0.0)
    vol[60:70, 30:40] = vol.max() * 3  # asymmetric feature: a wrong flip or transpose shows
    affine = np.diag([-1.0, -1.0, 2.0, 1.0])  # LPS-like: ingest reorients to RAS+ and its display view
    img = nib.Nifti1Image(vol.astype(np.float32), affine)
    return img.to_bytes()


@pytest.mark.parametrize("modality", ["MR", "CT"])
def test_nifti_reaches_the_model_as_ingest_stores_it(tmp_path, modality):
    body = _nifti(modality)
    path = tmp_path / "scan.nii"
    path.write_bytes(body)
    hr = _shard_hr(_unit({"image": str(path)}, "nifti"), Options(scales=(2,)))
    dec = decode("application/x-nifti", body, CodecLimits())
    assert dec.slices.shape[-2:] == (256, 256)
    assert dec.meta["intensities"][0].modality == modality
    _assert_same(hr, dec.slices)
