"""DICOM in/out (single- or multi-frame greyscale, any transfer syntax pydicom can decode).

The result is a proper *derived* instance: new SOP Instance UID and Series Instance UID, same Study, ImageType
DERIVED\\SECONDARY, Rows/Columns/PixelSpacing updated, a DerivationDescription and a SourceImageSequence
pointing at the input, written uncompressed (Explicit VR Little Endian) so any viewer reads it."""
from __future__ import annotations

import copy
import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat

import medray
from medray.config import InputError
from medray.imaging.dicom import to_stored, to_values
from medray.imaging.dicom_bounds import HEADER_SLACK, check_j2k_header, read_bounded
from medray.imaging.normalise import fit_intensity
from medray.imaging.writeback import write_back
from medray.serve.codecs.types import CodecLimits, Decoded

MEDIA_TYPE = "application/dicom"
_MONO = ("MONOCHROME1", "MONOCHROME2")
# medray's own implementation identity in derived files (a fixed UID under pydicom's root, derived from the name)
IMPLEMENTATION_CLASS_UID = generate_uid(entropy_srcs=["medray implementation class"])
IMPLEMENTATION_VERSION_NAME = f"MEDRAY_{medray.__version__}"[:16]


def _read(body: bytes, limits: CodecLimits) -> Dataset:
    try:  # a Deflated body inflates at most to what the voxel limit allows (4 bytes a voxel) plus the header
        return read_bounded(body, limits.max_voxels * 4 + HEADER_SLACK, force=True)
    except InputError as e:
        raise InputError("too_large" if e.reason == "too_large" else "corrupt", e.detail) from None
    except Exception as e:  # pydicom raises InvalidDicomError, EOFError, struct.error, ValueError...
        raise InputError("corrupt", f"DICOM could not be parsed: {type(e).__name__}: {e}") from None


def _declared_size(ds: Dataset, limits: CodecLimits) -> int:
    """Check the declared geometry before pixel_array allocates it."""
    if "PixelData" not in ds:
        raise InputError("not_image", "DICOM has no PixelData (float/double pixel data is not accepted)")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        spp = int(ds.get("SamplesPerPixel", 1))
        bits = int(ds.BitsAllocated)
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    except Exception as e:
        raise InputError("corrupt", f"DICOM image geometry is missing or invalid: {type(e).__name__}: {e}") from None
    if rows < 1 or cols < 1 or frames < 1:
        raise InputError("not_image", f"DICOM declares {frames} frame(s) of {rows}×{cols}")
    limits.check_sides((rows, cols), "DICOM")
    limits.check_voxels(rows * cols * frames * spp, "DICOM")
    if spp != 1 or photometric not in _MONO:
        raise InputError("unsupported", f"DICOM photometric {photometric!r} with {spp} samples; accepted: {list(_MONO)}")
    if bits not in (8, 16, 32):
        raise InputError("unsupported", f"DICOM BitsAllocated={bits}; accepted 8, 16, 32")
    return frames


def decode_dicom(body: bytes, limits: CodecLimits) -> Decoded:
    ds = _read(body, limits)
    frames = _declared_size(ds, limits)
    try:
        check_j2k_header(ds)  # the codestream's own size, before OpenJPEG allocates it
    except InputError as e:
        raise InputError("corrupt", e.detail) from None
    try:
        arr = ds.pixel_array
    except Exception as e:  # truncated pixel data, broken JPEG stream, missing decoder...
        raise InputError("corrupt", f"DICOM pixel data could not be decoded: {type(e).__name__}: {e}") from None
    if arr.size != frames * int(ds.Rows) * int(ds.Columns):  # pydicom does not check Rows/Columns against the data
        raise InputError("corrupt", f"DICOM pixel data holds {arr.size} values, not {frames}×{ds.Rows}×{ds.Columns}")
    arr = arr.reshape((frames, int(ds.Rows), int(ds.Columns)))
    if "ModalityLUTSequence" in ds:  # a non-linear LUT cannot be inverted to write the result back
        raise InputError("unsupported", "DICOM with a Modality LUT Sequence; accepted: RescaleSlope/Intercept")
    # the same reading and normalisation as ingest: HU for CT through the configured window, MR percentiles
    values, flip = to_values(arr, ds)
    modality = "CT" if str(ds.get("Modality", "")).upper() == "CT" else "MR"
    intensity = fit_intensity(values, modality, limits.ct_window)
    x = intensity.forward(values)
    del ds.PixelData  # the dataset is kept as a template for the derived object; the pixels are in `x`
    meta = {"ds": ds, "dtype": arr.dtype.str, "intensity": intensity, "raw": values, "flip": flip,
            "multiframe": "NumberOfFrames" in ds}
    return Decoded("dicom", x[:, None], MEDIA_TYPE, meta=meta)


def _scale_spacing(item: Dataset, keyword: str, scale: int) -> None:
    if keyword in item and item[keyword].value:
        # auto_format: a DS holds at most 16 characters (0.66146800/2 printed in full is invalid DICOM)
        item[keyword].value = [DSfloat(float(v) / scale, auto_format=True) for v in item[keyword].value]


@dataclass(frozen=True)
class DerivedSeries:
    """The series a derived instance joins. Without one, each derived instance gets a series of its own (one
    HTTP request, one instance); a PACS round trip passes one for the whole derived series."""

    series_uid: str
    description: str | None = None  # SeriesDescription (≤ 64 characters)
    number: int | None = None  # SeriesNumber


def stamp_series(ds: Dataset, series: DerivedSeries, instance_number: int | None = None) -> Dataset:
    """Put a derived instance into ``series`` (and at ``instance_number``), in place."""
    ds.SeriesInstanceUID = series.series_uid
    if series.description is not None:
        ds.SeriesDescription = series.description[:64]
    if series.number is not None:
        ds.SeriesNumber = int(series.number)
    if instance_number is not None:
        ds.InstanceNumber = int(instance_number)
    return ds


def derive_dataset(src: Dataset, pixels: np.ndarray, scale: int, description: str, multiframe: bool,
                   series: DerivedSeries | None = None, instance_number: int | None = None) -> Dataset:
    """A new derived instance from ``src`` (pixel data removed) and stored values ``pixels`` [F, R, C]."""
    ds = copy.deepcopy(src)
    ds.remove_private_tags()  # vendor data describing the source pixels (and sometimes identities)
    for tag in [t for t in ds.keys() if 0x6000 <= t.group <= 0x60FF or 0x5000 <= t.group <= 0x50FF]:
        del ds[tag]  # overlays and curves are drawn on the source grid and may hold burned-in text
    frames, rows, cols = pixels.shape
    sop_uid, series_uid = generate_uid(), generate_uid()
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = series_uid
    image_type = list(src.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY"] + [str(v) for v in image_type[2:]]
    ds.DerivationDescription = description[:1024]
    ds.Rows, ds.Columns = rows, cols
    ds.BitsStored = pixels.dtype.itemsize * 8  # written values may use the full stored dtype (bone beyond 12 bits)
    ds.HighBit = ds.BitsStored - 1
    if multiframe or frames > 1:
        ds.NumberOfFrames = frames
    for kw in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        _scale_spacing(ds, kw, scale)
    for seq_kw in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for group in ds.get(seq_kw, []) or []:
            for measures in group.get("PixelMeasuresSequence", []) or []:
                _scale_spacing(measures, "PixelSpacing", scale)
    if "SOPClassUID" in src and "SOPInstanceUID" in src:
        ref = Dataset()
        ref.ReferencedSOPClassUID = src.SOPClassUID
        ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
        ds.SourceImageSequence = Sequence([ref])
    now = dt.datetime.now(dt.timezone.utc)
    ds.InstanceCreationDate, ds.InstanceCreationTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    for kw in ("SmallestImagePixelValue", "LargestImagePixelValue", "IconImageSequence"):
        if kw in ds:
            delattr(ds, kw)
    data = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()
    ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
    ds["PixelData"].VR = "OB" if pixels.dtype.itemsize == 1 else "OW"
    meta = FileMetaDataset()  # written fresh: nothing of the source's implementation identity is kept
    meta.MediaStorageSOPClassUID = src.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")  # default: Secondary Capture
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
    if series is not None or instance_number is not None:
        stamp_series(ds, series or DerivedSeries(series_uid), instance_number)
    return ds


def encode_dicom(dec: Decoded, out: np.ndarray, scale: int, description: str,
                 series: DerivedSeries | None = None, instance_number: int | None = None) -> bytes:
    """``out`` is [F, 1, R*s, C*s] in [0, 1] → stored values in the input's units and dtype; what lay outside
    the model's range (air and bone around a CT window) comes from the bicubic upsample (``imaging.writeback``)."""
    m = dec.meta
    vals = write_back(out[:, 0], m["raw"], m["intensity"])
    stored = to_stored(vals, m["ds"], m["flip"], np.dtype(m["dtype"]))
    ds = derive_dataset(m["ds"], stored, scale, description, m["multiframe"], series, instance_number)
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return buf.getvalue()
