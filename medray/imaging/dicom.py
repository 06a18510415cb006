"""DICOM reading: header checks (driver) and series → volume decoding (worker).

Pixels go through pydicom's decoders (pylibjpeg/openjpeg/libjpeg plugins handle JPEG, JPEG-LS, JPEG 2000 and RLE
transfer syntaxes) and the Modality LUT (RescaleSlope/Intercept), so CT comes out in Hounsfield units.
A multi-frame file contributes all its frames as slices. Only grey-level CT and MR are accepted: colour
(RGB/YBR/palette) is refused, as is any other modality. Header values read here are used for decisions only;
ids (PatientID, SeriesInstanceUID, SOPInstanceUID) go straight to pseudonymisation in discovery.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_rescale

from medray.config import InputError
from medray.imaging.dicom_bounds import check_j2k_header, read_bounded
from medray.imaging.geometry import check_plane
from medray.imaging.timeout import time_limit

MODALITIES = ("CT", "MR")
MAX_VOXELS = 512 * 1024 * 1024  # per file; refuse from the header, before any allocation
GREY = ("MONOCHROME1", "MONOCHROME2")
MAX_INFLATED_BYTES = 256 * 1024 * 1024  # a Deflated file may inflate to this much, no more
# Secondary Capture (screenshots, scanned documents, burned-in reports): not a scan, and often carries PHI in pixels
SECONDARY_CAPTURE = ("1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
                     "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4")


def read_header(path: Path) -> dict:
    """Parse a DICOM header (pixels deferred) and refuse non-images, colour and unsupported modalities."""
    try:
        ds = read_bounded(path, MAX_INFLATED_BYTES, defer_size="4 KB")
    except InputError:  # the time limit fired: keep its reason
        raise
    except InvalidDicomError as e:
        raise InputError("not_dicom", "no DICOM preamble/meta header") from e
    except Exception as e:  # pydicom raises many types on garbage (struct.error, EOFError, ValueError…)
        raise InputError("not_dicom", type(e).__name__) from e
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise InputError("not_image", f"no pixel data (SOP class {ds.get('SOPClassUID', 'unknown')})")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if samples != 1 or photometric not in GREY:
        raise InputError("colour", f"{photometric} with {samples} samples per pixel; only grey-level scans are used")
    modality = str(ds.get("Modality", "") or "").upper()
    if modality not in MODALITIES:
        raise InputError("unsupported_modality", f"Modality {modality or 'missing'}; accepted: {', '.join(MODALITIES)}")
    if str(ds.get("SOPClassUID", "")) in SECONDARY_CAPTURE:
        raise InputError("secondary_capture", "Secondary Capture image (not an acquired scan)")
    if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
        raise InputError("burned_in_annotation", "BurnedInAnnotation is YES: the pixels may show patient data")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = _frames(ds)
    if rows < 2 or cols < 2:
        raise InputError("bad_geometry", f"{rows}×{cols} pixels")
    check_plane(rows, cols, "DICOM")  # a strip within MAX_VOXELS still costs its long side squared in ingest
    if rows * cols * frames > MAX_VOXELS:
        raise InputError("too_large", f"{rows}×{cols}×{frames} voxels exceeds {MAX_VOXELS}")
    return {
        "patient_id": str(ds.get("PatientID", "") or ""),
        "series_uid": str(ds.get("SeriesInstanceUID", "") or ""),
        "sop_uid": str(ds.get("SOPInstanceUID", "") or ""),
        "modality": modality, "rows": rows, "cols": cols,
    }


def _frames(ds) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _position(ds) -> float | None:
    """Distance of the slice along its normal (ImagePositionPatient · (row × col direction cosines))."""
    try:
        iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
        ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
        return float(np.dot(np.cross(iop[:3], iop[3:]), ipp))
    except (AttributeError, ValueError, TypeError, IndexError):
        return None


def _decode(path: str) -> tuple[np.ndarray, dict]:
    """One file → (frames, rows, cols) float32 after the Modality LUT, plus geometry; typed errors."""
    try:
        ds = read_bounded(path, MAX_INFLATED_BYTES)
    except InputError:  # the time limit or the inflation bound fired: keep its reason
        raise
    except Exception as e:
        raise InputError("not_dicom", type(e).__name__) from e
    try:
        check_j2k_header(ds)  # before the decoder allocates what the codestream declares
        arr = ds.pixel_array
    except InputError:  # the time limit fired: keep its reason
        raise
    except (ValueError, EOFError) as e:
        msg = str(e).lower()
        reason = "truncated" if ("length" in msg or "expected" in msg or "truncat" in msg or "end of" in msg) else "decode_error"
        raise InputError(reason, str(e).split("\n")[0][:160]) from e
    except (RuntimeError, NotImplementedError, AttributeError, KeyError) as e:
        raise InputError("decode_error", f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}") from e
    frames = _frames(ds)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] != frames:
        raise InputError("colour", f"decoded pixel array has shape {arr.shape}; expected grey-level frames")
    hu, _ = to_values(arr, ds)
    sp = ds.get("PixelSpacing") or [1.0, 1.0]
    thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0
    geo = {
        "position": _position(ds), "instance": int(ds.get("InstanceNumber", 0) or 0),
        "spacing": (float(sp[0]), float(sp[1]), float(thickness)),
    }
    return hu, geo


def to_values(stored: np.ndarray, ds) -> tuple[np.ndarray, float | None]:
    """Stored pixel values → float32 values in the scan's units (HU for CT) via the Modality LUT
    (RescaleSlope/Intercept; identity when absent), MONOCHROME1 turned the right way up. Returns the values and
    the flip sum (``max + min``; None unless MONOCHROME1) that ``to_stored`` needs to undo the flip."""
    values = apply_rescale(stored, ds).astype(np.float32)
    flip = None
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":  # inverted grey scale
        flip = float(values.max()) + float(values.min())
        values = np.float32(flip) - values
    return values, flip


def to_stored(values: np.ndarray, ds, flip: float | None, dtype: np.dtype) -> np.ndarray:
    """Inverse of ``to_values`` for a linear Modality LUT: rounded and clipped to ``dtype``'s range."""
    v = np.asarray(values, dtype=np.float64)
    if flip is not None:
        v = flip - v
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    v = np.round((v - intercept) / slope)
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        v = np.clip(v, info.min, info.max)
    return v.astype(dtype)


def read_series(paths: list[str], file_timeout_s: float | None = None
                ) -> tuple[np.ndarray | None, tuple[float, float, float], list[tuple[str, InputError]]]:
    """Decode the files of one series → ((rows, cols, n_slices) float32, spacing, [(path, error)])."""
    decoded, errors = [], []
    for p in paths:
        try:
            with time_limit(file_timeout_s, "file"):
                decoded.append((p, *_decode(p)))
        except InputError as e:
            errors.append((p, e))
    if not decoded:
        return None, (1.0, 1.0, 1.0), errors
    # order along the slice normal when every file has a position, else by InstanceNumber, then path
    if all(g["position"] is not None for _, _, g in decoded) and len(decoded) > 1:
        decoded.sort(key=lambda d: (d[2]["position"], d[2]["instance"], d[0]))
    else:
        decoded.sort(key=lambda d: (d[2]["instance"], d[0]))
    positions = [g["position"] for _, _, g in decoded]
    spacing = decoded[0][2]["spacing"]
    if len(decoded) > 1 and all(p is not None for p in positions):
        gaps = np.diff(positions)
        if np.all(gaps > 0):
            spacing = (spacing[0], spacing[1], float(np.median(gaps)))
    volume = np.concatenate([hu for _, hu, _ in decoded], axis=0)  # (n, rows, cols)
    return np.moveaxis(volume, 0, -1), spacing, errors
