"""Issue 18: decoders refuse hostile bodies before they cost memory, in serve (codecs) and ingest (imaging readers);
derived DICOM carries nothing of the source's private data; ingest refuses screenshots and burned-in text and
keeps source paths out of rejects.jsonl. Each test fails on the code before the fix."""
import io
import json
import struct
import tracemalloc
import zlib

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless

from medray.config import InputError
from medray.imaging import dicom as imaging_dicom
from medray.imaging.nifti import load_header
from medray.ingest.rejects import Reject, path_pseudonym, write_rejects
from medray.serve.codecs import CodecLimits, decode, encode
from medray.serve.codecs.dicom import IMPLEMENTATION_CLASS_UID

MIB = 1 << 20


def _mr() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("MR_small.dcm"))


def _save(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _peak(fn) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    err = None
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 — the caller asserts on it
        err = e
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, err


def _deflate_bomb(inflated_mib: int = 64) -> bytes:
    """MR_small as Deflated Explicit VR LE whose PixelData element holds ``inflated_mib`` MiB of zeros (≈ 64 kB)."""
    ds = _mr()
    del ds.PixelData
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [z.compress(body.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, inflated_mib * MIB))]
    parts += [z.compress(bytes(MIB)) for _ in range(inflated_mib)]
    parts.append(z.flush())
    meta = ds.file_meta
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue() + b"".join(parts)


def test_deflated_dicom_is_inflated_with_a_bound_in_serve():
    body = _deflate_bomb()
    assert len(body) < 200_000
    peak, err = _peak(lambda: decode("application/dicom", body, CodecLimits(max_voxels=1 << 16)))
    assert isinstance(err, InputError) and err.reason == "too_large", err
    assert peak < 24 * MIB, peak


def test_deflated_dicom_is_inflated_with_a_bound_in_ingest(tmp_path, monkeypatch):
    path = tmp_path / "bomb.dcm"
    path.write_bytes(_deflate_bomb())
    monkeypatch.setattr(imaging_dicom, "MAX_INFLATED_BYTES", 8 * MIB)
    peak, err = _peak(lambda: imaging_dicom.read_header(path))
    assert isinstance(err, InputError) and err.reason == "too_large", err
    assert peak < 12 * MIB, peak  # the cap and one 1 MiB piece; one bounded decompress call held twice the cap


def test_a_small_deflated_dicom_still_reads():
    ds = _mr()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    body = _save(ds)
    dec = decode("application/dicom", body, CodecLimits())
    assert dec.slices.shape == (1, 1, 64, 64)


def _nifti_offset_bomb(offset: int) -> bytes:
    """A 4×4×1 int16 NIfTI whose data starts ``offset`` bytes in: zeros up to there, gzipped (≈ 1 kB a MiB)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((4, 4, 1))
    hdr.set_data_dtype(np.int16)
    hdr["vox_offset"] = offset
    c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = hdr.binaryblock + b"\0" * 4
    parts = [c.compress(head)]
    left = offset - len(head)
    while left > 0:
        n = min(MIB, left)
        parts.append(c.compress(bytes(n)))
        left -= n
    parts += [c.compress(np.arange(16, dtype="<i2").tobytes()), c.flush()]
    return b"".join(parts)


def test_nifti_vox_offset_beyond_the_body_is_refused_in_serve():
    body = _nifti_offset_bomb(128 * MIB)
    assert len(body) < 400_000
    peak, err = _peak(lambda: decode("application/gzip", body, CodecLimits()))
    assert isinstance(err, InputError) and "vox_offset" in err.detail, err
    assert peak < 16 * MIB, peak


def test_nifti_vox_offset_beyond_the_file_is_refused_in_ingest(tmp_path):
    path = tmp_path / "offset.nii.gz"
    path.write_bytes(_nifti_offset_bomb(128 * MIB))
    with pytest.raises(InputError) as e:
        load_header(path)
    assert "vox_offset" in e.value.detail


def _j2k_dicom(siz_rows: int, siz_cols: int) -> bytes:
    """A 32×32 MR whose JPEG 2000 codestream's SIZ marker is patched to declare siz_rows × siz_cols."""
    from openjpeg import encode

    stream = bytearray(encode(np.arange(1024, dtype=np.uint16).reshape(32, 32), bits_stored=16))
    i = stream.find(b"\xff\x4f\xff\x51")
    struct.pack_into(">II", stream, i + 8, siz_cols, siz_rows)  # Xsiz, Ysiz (offsets XOsiz/YOsiz are 0)
    ds = _mr()
    ds.Rows = ds.Columns = 32
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 0
    ds.PixelData = encapsulate([bytes(stream)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    return _save(ds)


def test_j2k_siz_disagreeing_with_rows_columns_is_refused_before_decoding(tmp_path, monkeypatch):
    assert decode("application/dicom", _j2k_dicom(32, 32), CodecLimits()).slices.shape == (1, 1, 32, 32)
    body = _j2k_dicom(16384, 16384)
    assert len(body) < 2000

    def no_decode(self):
        raise AssertionError("the pixel decoder ran")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_decode))
    with pytest.raises(InputError) as e:
        decode("application/dicom", body, CodecLimits())
    assert "SIZ" in e.value.detail and "decoder ran" not in e.value.detail
    path = tmp_path / "j2k.dcm"
    path.write_bytes(body)
    vol, _, errors = imaging_dicom.read_series([str(path)])
    assert vol is None and errors[0][1].reason == "bad_geometry" and "SIZ" in errors[0][1].detail


def test_each_side_is_capped_before_decoding():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((65536, 256), np.uint8)).save(buf, format="PNG")
    assert len(buf.getvalue()) < 100_000  # within the area limit (2^24 voxels), but a 65536-pixel side
    with pytest.raises(InputError) as e:
        decode("image/png", buf.getvalue(), CodecLimits())
    assert e.value.reason == "too_large" and "per side" in e.value.detail
    ds = _mr()
    ds.Rows, ds.Columns = 8192, 2
    with pytest.raises(InputError) as e:
        decode("application/dicom", _save(ds), CodecLimits())
    assert e.value.reason == "too_large" and "per side" in e.value.detail
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((8192, 2, 1))
    with pytest.raises(InputError) as e:
        decode("application/x-nifti", hdr.binaryblock + b"\0" * 4, CodecLimits())
    assert e.value.reason == "too_large" and "per side" in e.value.detail


def test_nifti2_dims_product_does_not_wrap():
    hdr = nib.Nifti2Header()
    hdr.set_data_shape((2, 2, 2))
    block = bytearray(hdr.binaryblock)
    struct.pack_into("<8q", block, 16, 4, 4096, 4096, 4096, 2**28, 1, 1, 1)  # product 2^64: int64 wraps to 0
    struct.pack_into("<q", block, 168, 544)
    with pytest.raises(InputError) as e:
        decode("application/x-nifti", bytes(block) + b"\0" * 68, CodecLimits())
    assert e.value.reason == "too_large"


def test_derived_dicom_drops_private_tags_overlays_and_source_implementation():
    ds = _mr()
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091001, "LO", "secret vendor note")
    ds.add_new(0x60000010, "US", 64)  # OverlayRows
    ds.add_new(0x60003000, "OW", bytes(64 * 64 // 8))  # OverlayData
    ds.file_meta.ImplementationClassUID = "1.2.3.4.5.6"
    ds.file_meta.ImplementationVersionName = "VENDOR_PACS"
    dec = decode("application/dicom", _save(ds), CodecLimits())
    out = pydicom.dcmread(io.BytesIO(encode(dec, dec.slices.repeat(2, -2).repeat(2, -1), 2, "medray")))
    assert not [t for t in out.keys() if t.is_private or 0x6000 <= t.group <= 0x60FF]
    assert out.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID != "1.2.3.4.5.6"
    assert str(out.file_meta.ImplementationVersionName).startswith("MEDRAY")


@pytest.mark.parametrize("change,reason", [("sc", "secondary_capture"), ("burned", "burned_in_annotation")])
def test_ingest_refuses_secondary_capture_and_burned_in_annotation(tmp_path, change, reason):
    ds = _mr()
    if change == "sc":
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    else:
        ds.BurnedInAnnotation = "YES"
    path = tmp_path / "x.dcm"
    path.write_bytes(_save(ds))
    with pytest.raises(InputError) as e:
        imaging_dicom.read_header(path)
    assert e.value.reason == reason
    ds.BurnedInAnnotation = "NO"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    path.write_bytes(_save(ds))
    assert imaging_dicom.read_header(path)["modality"] == "MR"


def test_rejects_jsonl_holds_keyed_path_pseudonyms_with_the_extension_only(tmp_path):
    src = "/pacs/DOE_JOHN_19700101/series 3/IM0001.nii.gz"
    n = write_rejects(tmp_path / "rejects.jsonl", [Reject(src, "truncated", "x"), Reject("/a/b/scan.dcm", "colour")],
                      salt="s1")
    text = (tmp_path / "rejects.jsonl").read_text()
    assert n == 2 and "DOE" not in text and "pacs" not in text and "IM0001" not in text
    paths = {json.loads(line)["path"] for line in text.splitlines()}
    assert paths == {path_pseudonym("s1", src), path_pseudonym("s1", "/a/b/scan.dcm")}
    assert path_pseudonym("s1", src).endswith(".nii.gz") and path_pseudonym("s1", "/a/b/scan.dcm").endswith(".dcm")
    assert path_pseudonym("s2", src) != path_pseudonym("s1", src)  # keyed: without the salt it cannot be recomputed


@pytest.mark.parametrize("rows, cols, reason", [(16384, 8, "too_large"), (512, 8, "bad_geometry"), (256, 128, None)])
def test_ingest_caps_each_side_and_the_aspect_ratio(tmp_path, rows, cols, reason):
    """A 16384×8 strip is 128 k voxels, inside MAX_VOXELS, but ingest pads slices to squares (16384² = 1 GiB)."""
    ds = _mr()
    ds.Rows, ds.Columns = rows, cols
    ds.PixelData = np.zeros((rows, cols), np.int16).tobytes()
    (tmp_path / "strip.dcm").write_bytes(_save(ds))
    nib.save(nib.Nifti1Image(np.zeros((rows, cols, 1), np.int16), np.eye(4)), tmp_path / "strip.nii")
    for read in (lambda: imaging_dicom.read_header(tmp_path / "strip.dcm"), lambda: load_header(tmp_path / "strip.nii")):
        if reason is None:
            read()  # a rectangular-FOV MR plane is fine
            continue
        with pytest.raises(InputError) as e:
            read()
        assert e.value.reason == reason, e.value
