"""Codec unit tests: PNG 8/16-bit, NIfTI volume (affine/spacing update), DICOM single and multi-frame, and the
derived DICOM re-read with pydicom and checked tag by tag. No Ray, no model: the "model" is a nearest upscale."""
import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from medray.config import InputError
from medray.serve.codecs import CodecLimits, codec_for, decode, encode
from medray.serve.codecs.nifti import upscaled_affine

LIMITS = CodecLimits()
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _up(x: np.ndarray, s: int) -> np.ndarray:
    return x.repeat(s, axis=-2).repeat(s, axis=-1)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("dtype,peak", [(np.uint8, 255), (np.uint16, 65535)])
def test_png_roundtrip_keeps_bit_depth(dtype, peak):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, peak + 1, size=(12, 10)).astype(dtype)
    dec = decode("image/png", _png(arr), LIMITS)
    assert dec.slices.shape == (1, 1, 12, 10) and dec.slices.dtype == np.float32
    np.testing.assert_allclose(dec.slices[0, 0], arr / peak, atol=1e-6)
    body = encode(dec, _up(dec.slices, 2), 2, "test")
    back = np.asarray(Image.open(io.BytesIO(body)))
    assert back.dtype == dtype and back.shape == (24, 20)
    np.testing.assert_array_equal(back, _up(arr, 2))


def _volume(shape=(6, 5, 4)) -> nib.Nifti1Image:
    rng = np.random.default_rng(1)
    data = (rng.random(shape) * 1000 - 200).astype(np.float32)
    affine = np.array([[-2.0, 0, 0, 90], [0, 2.5, 0, -126], [0, 0, 3.0, -72], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=4)
    return img


@pytest.mark.parametrize("media,gz", [("application/x-nifti", False), ("application/gzip", True)])
def test_nifti_volume_slice_by_slice_with_affine_update(media, gz):
    img = _volume()
    raw = img.to_bytes()
    body = gzip.compress(raw) if gz else raw
    dec = decode(media, body, LIMITS)
    # one slice per k in ingest's display view: RAS+ (i flipped: the affine's x is −2), rows = y, cols = x
    assert dec.slices.shape == (4, 1, 5, 6)
    out = encode(dec, _up(dec.slices, 2), 2, "medray x2")
    back = nib.Nifti1Image.from_bytes(gzip.decompress(out) if gz else out)
    assert back.shape == (12, 10, 4)
    np.testing.assert_allclose(back.header.get_zooms(), (1.0, 1.25, 3.0))
    np.testing.assert_allclose(back.affine, upscaled_affine(img.affine, 2), atol=1e-5)
    # The field of view is unchanged: the corner of voxel (-0.5,-0.5) maps to the same world point.
    corner_old = img.affine @ np.array([-0.5, -0.5, 0, 1])
    corner_new = back.affine @ np.array([-0.5, -0.5, 0, 1])
    np.testing.assert_allclose(corner_old, corner_new, atol=1e-4)
    # Intensities come back in the input's units and voxel order (nearest upscale of the input → same values
    # inside the MR percentile range; the ~1 % outside it and negative voxels come from the bicubic upsample).
    same = np.isclose(np.asarray(back.dataobj)[::2, ::2], img.get_fdata(), rtol=1e-5, atol=1e-3)
    inside = (img.get_fdata() >= dec.meta["intensities"][0].lo) & (img.get_fdata() <= dec.meta["intensities"][0].hi)
    assert same[inside].mean() > 0.9 and same.mean() > 0.7
    assert back.header.get_sform(coded=True)[1] == 4


def _mr() -> pydicom.Dataset:
    return pydicom.dcmread(TEST_FILES / "MR_small.dcm")


def _multiframe(frames=3) -> bytes:
    """A multi-frame MR built from the real MR_small slice (pydicom ships no small greyscale multi-frame MR)."""
    ds = _mr()
    arr = ds.pixel_array
    stack = np.stack([np.roll(arr, 3 * f, axis=1) for f in range(frames)])
    ds.NumberOfFrames = frames
    ds.PixelData = stack.astype("<i2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _check_derived(src: pydicom.Dataset, out: bytes, scale: int, frames: int):
    ds = pydicom.dcmread(io.BytesIO(out))
    assert ds.SOPInstanceUID != src.SOPInstanceUID
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.StudyInstanceUID == src.StudyInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.Rows == src.Rows * scale and ds.Columns == src.Columns * scale
    np.testing.assert_allclose([float(v) for v in ds.PixelSpacing], [float(v) / scale for v in src.PixelSpacing])
    assert "medray" in ds.DerivationDescription
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ds.SOPClassUID == src.SOPClassUID and ds.PatientID == src.PatientID
    assert ds.BitsAllocated == src.BitsAllocated and ds.PixelRepresentation == src.PixelRepresentation
    px = ds.pixel_array.reshape(frames, ds.Rows, ds.Columns)
    return ds, px


def _assert_stored_values_kept(px: np.ndarray, src_px: np.ndarray, dec) -> None:
    """Stored values in the input's units: exact where the MR percentile range covers them (the identity
    "model" maps them back), the rest (< 1 % each side) from the bicubic upsample, so still near the input."""
    it = dec.meta["intensity"]
    inside = (src_px >= it.lo) & (src_px <= it.hi)
    assert (px == src_px)[inside].mean() > 0.97 and (px == src_px).mean() > 0.95
    assert np.abs(px.astype(float) - src_px).max() < 0.5 * (src_px.max() - src_px.min())


def test_dicom_single_frame_derived_object():
    src = _mr()
    body = (TEST_FILES / "MR_small.dcm").read_bytes()
    dec = decode("application/dicom", body, LIMITS)
    assert dec.slices.shape == (1, 1, 64, 64)
    out = encode(dec, _up(dec.slices, 2), 2, "medray IoT-GAN x2")
    ds, px = _check_derived(src, out, 2, 1)
    assert "NumberOfFrames" not in ds
    _assert_stored_values_kept(px[:, ::2, ::2], src.pixel_array[None], dec)


def test_dicom_multiframe_derived_object():
    body = _multiframe(3)
    src = pydicom.dcmread(io.BytesIO(body))
    dec = decode("application/dicom", body, LIMITS)
    assert dec.slices.shape == (3, 1, 64, 64)
    out = encode(dec, _up(dec.slices, 4), 4, "medray x4")
    ds, px = _check_derived(src, out, 4, 3)
    assert int(ds.NumberOfFrames) == 3
    _assert_stored_values_kept(px[:, ::4, ::4], src.pixel_array, dec)


def test_dicom_compressed_input_is_written_uncompressed():
    body = (TEST_FILES / "MR_small_RLE.dcm").read_bytes()
    dec = decode("application/dicom", body, LIMITS)
    out = encode(dec, _up(dec.slices, 2), 2, "medray")
    src = pydicom.dcmread(io.BytesIO(body))
    _check_derived(src, out, 2, 1)


def test_refusals_are_typed_and_checked_before_allocation():
    with pytest.raises(InputError) as e:
        codec_for("text/plain")
    assert e.value.reason == "unsupported" and "image/png" in e.value.detail
    assert codec_for("image/png; charset=binary") == "image/png"
    small = CodecLimits(max_body_bytes=10_000, max_voxels=1000)
    with pytest.raises(InputError) as e:
        decode("image/png", _png(np.zeros((40, 40), np.uint8)), small)
    assert e.value.reason == "too_large"
    # A NIfTI header declaring 10^12 voxels with no data behind it: refused from the header alone.
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((10_000, 10_000, 10_000))
    raw = hdr.binaryblock + b"\0" * 4
    with pytest.raises(InputError) as e:
        decode("application/gzip", gzip.compress(raw), LIMITS)
    assert e.value.reason == "too_large"
    # A DICOM declaring 60000×60000×1000: refused before pixel_array.
    ds = _mr()
    ds.Rows, ds.Columns, ds.NumberOfFrames = 60000, 60000, 1000
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(InputError) as e:
        decode("application/dicom", buf.getvalue(), LIMITS)
    assert e.value.reason == "too_large"
    for media, body in [("image/png", b"\x89PNG\r\n\x1a\nbroken"), ("application/dicom", b"not dicom at all" * 20),
                        ("application/x-nifti", b"\0" * 400), ("application/gzip", b"\x1f\x8b garbage")]:
        with pytest.raises(InputError) as e:
            decode(media, body, LIMITS)
        assert e.value.reason not in ("too_large", "unsupported"), (media, e.value)
    truncated = (TEST_FILES / "MR_small.dcm").read_bytes()[:3000]
    with pytest.raises(InputError):
        decode("application/dicom", truncated, LIMITS)
    rgb = (TEST_FILES / "SC_rgb_small_odd.dcm").read_bytes()
    with pytest.raises(InputError) as e:
        decode("application/dicom", rgb, LIMITS)
    assert e.value.reason == "unsupported"


def _mutants(body: bytes, rng: np.random.Generator, n: int):
    """Bit flips, truncations, byte overwrites and splices of a valid body."""
    for _ in range(n):
        b = bytearray(body)
        kind = rng.integers(4)
        if kind == 0:
            for i in rng.integers(0, len(b), size=int(rng.integers(1, 8))):
                b[i] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            b = b[: int(rng.integers(0, len(b)))]
        elif kind == 2:
            i = int(rng.integers(0, min(len(b), 600)))
            b[i: i + 4] = rng.integers(0, 256, size=4, dtype=np.uint8).tobytes()
        else:
            i = int(rng.integers(0, len(b)))
            b = b[:i] + rng.integers(0, 256, size=int(rng.integers(1, 64)), dtype=np.uint8).tobytes() + b[i:]
        yield bytes(b)


@pytest.mark.parametrize("media", ["image/png", "application/gzip", "application/x-nifti", "application/dicom"])
def test_mutated_inputs_decode_or_refuse_with_input_error(media):
    """A seeded fuzz subset (benchmarks/fuzz_inputs.py runs the large one): every mutant either decodes and
    encodes back, or raises InputError — never another exception."""
    import time

    rng = np.random.default_rng(0)
    valid = {"image/png": _png((rng.random((16, 16)) * 65535).astype(np.uint16)),
             "application/gzip": gzip.compress(_volume((8, 8, 2)).to_bytes()),
             "application/x-nifti": _volume((8, 8, 2)).to_bytes(),
             "application/dicom": (TEST_FILES / "MR_small.dcm").read_bytes()}[media]
    small = CodecLimits(max_body_bytes=1 << 20, max_voxels=1 << 18)
    decoded = 0
    for body in _mutants(valid, rng, 150):
        t0 = time.perf_counter()
        try:
            dec = decode(media, body, small)
        except InputError:
            continue
        finally:
            assert time.perf_counter() - t0 < 5.0
        try:
            encode(dec, _up(dec.slices, 2), 2, "fuzz")
        except InputError:
            continue
        decoded += 1
    assert decoded > 0  # some mutants (e.g. flips inside pixel data) are still valid images
