"""The shard format: one Parquet row per 256×256 slice. This file is the contract between ingest and train.

Images are stored as flat ``uint16`` lists holding round(value · 65535) for values in [0, 1]
(lossless enough for 8–12-bit scans, half the size of float32), channel-major: ``hr`` holds
``n_channels × 256 × 256`` values, ``lr_x2`` ``n_channels × 128 × 128``, ``lr_x4`` ``n_channels × 64 × 64``.
``mask`` holds the 256×256 label map as uint8 (BraTS labels 0/1/2/4), null where the scan has none.
Plain pyarrow reads the files; ``decode_image`` turns a cell back into a float32 array.

Bump ``SCHEMA_VERSION`` on any change a reader must know about.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from medray.vitals.fields import VITALS_FIELDS  # a leaf contract (imports only medray.config): the one list

SCHEMA_VERSION = 1
SIZE = 256  # every HR slice is SIZE × SIZE
SCALES = (2, 4)
UINT16_SCALE = 65535.0
SPLITS = ("train", "val", "test")
SOURCE_FORMATS = ("nifti", "brats", "dicom")
MODALITIES = ("MR", "CT")
BRATS_CHANNELS = ("t1", "t1ce", "t2", "flair")

SCHEMA = pa.schema(
    [
        pa.field("schema_version", pa.int16(), nullable=False),
        pa.field("patient_id", pa.string(), nullable=False),  # salted pseudonym, never the source id
        pa.field("series_id", pa.string(), nullable=False),  # salted pseudonym of the series / volume
        pa.field("source_format", pa.string(), nullable=False),  # one of SOURCE_FORMATS
        pa.field("modality", pa.string(), nullable=False),  # one of MODALITIES
        pa.field("channels", pa.string(), nullable=False),  # comma list, e.g. "t1,t1ce,t2,flair" or "ct"
        pa.field("n_channels", pa.int8(), nullable=False),
        pa.field("slice_index", pa.int32(), nullable=False),  # axial index in the source volume
        pa.field("n_slices", pa.int32(), nullable=False),  # axial slices in the source volume
        pa.field("split", pa.string(), nullable=False),  # one of SPLITS, by patient
        pa.field("hr", pa.list_(pa.uint16()), nullable=False),
        pa.field("lr_x2", pa.list_(pa.uint16()), nullable=True),  # null when ×2 was not requested
        pa.field("lr_x4", pa.list_(pa.uint16()), nullable=True),
        pa.field("mask", pa.list_(pa.uint8()), nullable=True),
        pa.field("spacing_mm", pa.list_(pa.float32()), nullable=False),  # [row, col, slice] of the HR slice
        pa.field("degradation", pa.string(), nullable=False),  # JSON: how LR was made (blur, motion, noise)
        # the patient's vitals at scan time (from --vitals), null when none were given
        pa.field("heart_rate", pa.float32(), nullable=True),
        pa.field("spo2", pa.float32(), nullable=True),
        pa.field("temperature", pa.float32(), nullable=True),
        pa.field("mobility", pa.float32(), nullable=True),
    ],
    metadata={b"medray_schema_version": str(SCHEMA_VERSION).encode()},
)


def lr_column(scale: int) -> str:
    return f"lr_x{scale}"


def encode_image(img: np.ndarray) -> np.ndarray:
    """float image in [0,1] (any shape) → flat uint16 array for a shard cell."""
    a = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    return np.rint(a * UINT16_SCALE).astype(np.uint16).ravel()


def decode_image(cell, n_channels: int, size: int) -> np.ndarray:
    """Shard cell (flat uint16 list/array) → float32 array (n_channels, size, size) in [0,1]."""
    a = np.asarray(cell, dtype=np.float32)
    expected = n_channels * size * size
    if a.size != expected:
        raise ValueError(f"shard cell has {a.size} values, expected {n_channels}×{size}×{size}={expected}")
    return (a / UINT16_SCALE).reshape(n_channels, size, size)


def decode_mask(cell, size: int = SIZE) -> np.ndarray | None:
    """Shard mask cell → uint8 (size, size) label map, or None."""
    if cell is None:
        return None
    return np.asarray(cell, dtype=np.uint8).reshape(size, size)
