"""One unit (a NIfTI volume, a BraTS folder or a DICOM series) → shard rows, in a worker.

Pure function of the unit and the options, used unchanged by the Ray Data pipeline and by the single-process
reference loop of ``benchmarks/ingest.py``. Refusals come back as ``Reject`` records instead of exceptions so
that one bad file never stops the batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from medray.config import InputError
from medray.shards import schema as S
from medray.imaging.degrade import degrade_all
from medray.imaging.dicom import read_series
from medray.imaging.nifti import guess_modality, load_volume
from medray.imaging.normalise import fit_intensity
from medray.imaging.orient import to_display
from medray.ingest.register import align_to, resample_to, same_grid
from medray.ingest.rejects import Reason, Reject, reject
from medray.ingest.slicing import is_near_empty, resize_image, resize_mask, resized_spacing
from medray.imaging.timeout import time_limit


@dataclass(frozen=True)
class Options:
    scales: tuple[int, ...] = (2, 4)
    seed: int = 0
    ct_window: str = "soft_tissue"
    file_timeout_s: float = 60.0
    slice_step: int = 1  # keep every k-th axial slice (k > 1 only to make small test/benchmark sets)


@dataclass
class Volume:
    image: np.ndarray  # (C, rows, cols, slices) normalised to [0, 1], display orientation
    mask: np.ndarray | None  # (rows, cols, slices) uint8 labels
    spacing: tuple[float, float, float]  # row, col, slice (mm)
    modality: str
    channels: tuple[str, ...]
    source_format: str


def _normalise(vol: np.ndarray, modality: str, ct_window: str) -> np.ndarray:
    """The same invertible normalisation the serve codecs apply (``medray.imaging.normalise``)."""
    return fit_intensity(vol, modality, ct_window).forward(vol)


def _load_nifti(unit: dict, opts: Options) -> Volume:
    vol, _, zooms = load_volume(unit["paths"]["image"])
    modality = guess_modality(vol)
    img = to_display(_normalise(vol, modality, opts.ct_window)[None])
    return Volume(img, None, (zooms[1], zooms[0], zooms[2]), modality, ("ct",) if modality == "CT" else ("mr",), "nifti")


def _load_brats(unit: dict, opts: Options) -> Volume:
    """All four contrasts (aligned to the first) or a single contrast, with the seg resampled onto its grid."""
    paths = unit["paths"]
    names = tuple(unit.get("channels") or S.BRATS_CHANNELS)
    ref, ref_aff, zooms = load_volume(paths[names[0]])
    chans = [_normalise(ref, "MR", opts.ct_window)]
    for c in names[1:]:
        v, aff, _ = load_volume(paths[c])
        v, _ = align_to(ref, ref_aff, v, aff)
        chans.append(_normalise(v, "MR", opts.ct_window))
    mask = None
    if "seg" in paths:
        seg, seg_aff, _ = load_volume(paths["seg"])
        if not same_grid(ref.shape, ref_aff, seg.shape, seg_aff):
            seg = resample_to(seg, seg_aff, ref.shape, ref_aff, order=0)
        mask = to_display(np.rint(seg).astype(np.uint8))
    img = to_display(np.stack(chans))
    return Volume(img, mask, (zooms[1], zooms[0], zooms[2]), "MR", names, "brats")


def _load_dicom(unit: dict, opts: Options, rejects: list[Reject]) -> Volume | None:
    vol, spacing, errors = read_series(unit["paths"], opts.file_timeout_s)
    rejects.extend(reject(p, Reason(e.reason), e.detail) for p, e in errors)
    if vol is None:
        return None
    modality = unit["modality"]
    img = _normalise(vol, modality, opts.ct_window)[None]
    return Volume(img, None, spacing, modality, ("ct",) if modality == "CT" else ("mr",), "dicom")


def _list_column(cells: list, typ: pa.DataType) -> pa.Array:
    if all(c is None for c in cells):
        return pa.nulls(len(cells), pa.list_(typ))
    flat = np.concatenate(cells)
    offsets = np.arange(len(cells) + 1, dtype=np.int32) * cells[0].size
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=typ))


def volume_rows(vol: Volume, unit: dict, opts: Options) -> pa.Table:
    """Slice, resize, degrade and encode one volume into a table with the shard SCHEMA."""
    vit = unit.get("vitals") or {}
    hr_bpm, mob = vit.get("heart_rate"), vit.get("mobility")
    c, h, w, d = vol.image.shape
    sp_r, sp_c = resized_spacing((h, w), vol.spacing[:2])
    cols: dict[str, list] = {k: [] for k in ("slice_index", "hr", "mask", "degradation")}
    lrs: dict[int, list] = {s: [] for s in S.SCALES}
    for k in range(0, d, opts.slice_step):
        sl = vol.image[..., k]
        if is_near_empty(sl):
            continue
        hr = resize_image(sl)
        lr, record = degrade_all(hr, opts.scales, opts.seed, unit["series_id"], k, heart_rate=hr_bpm, mobility=mob)
        cols["slice_index"].append(k)
        cols["hr"].append(S.encode_image(hr))
        cols["mask"].append(None if vol.mask is None else resize_mask(vol.mask[..., k]).ravel())
        cols["degradation"].append(record)
        for s in S.SCALES:
            lrs[s].append(S.encode_image(lr[s]) if s in lr else None)
    n = len(cols["slice_index"])
    const = {
        "schema_version": pa.array([S.SCHEMA_VERSION] * n, pa.int16()),
        "patient_id": [unit["patient_id"]] * n, "series_id": [unit["series_id"]] * n,
        "source_format": [vol.source_format] * n, "modality": [vol.modality] * n,
        "channels": [",".join(vol.channels)] * n, "n_channels": pa.array([c] * n, pa.int8()),
        "n_slices": pa.array([d] * n, pa.int32()), "split": [unit["split"]] * n,
        "spacing_mm": pa.array([[sp_r, sp_c, vol.spacing[2]]] * n, pa.list_(pa.float32())),
    }
    data = dict(const)
    data["slice_index"] = pa.array(cols["slice_index"], pa.int32())
    data["hr"] = _list_column(cols["hr"], pa.uint16()) if n else pa.array([], pa.list_(pa.uint16()))
    for s in S.SCALES:
        data[S.lr_column(s)] = _list_column(lrs[s], pa.uint16()) if n else pa.array([], pa.list_(pa.uint16()))
    data["mask"] = _list_column(cols["mask"], pa.uint8()) if n else pa.array([], pa.list_(pa.uint8()))
    data["degradation"] = cols["degradation"]
    for f in S.VITALS_FIELDS:
        data[f] = pa.array([vit.get(f)] * n, pa.float32())
    return pa.table({f.name: data[f.name] for f in S.SCHEMA}, schema=S.SCHEMA)


def unit_files(unit: dict) -> list[str]:
    p = unit["paths"]
    return list(p.values()) if isinstance(p, dict) else list(p)


def process_unit(unit: dict, opts: Options) -> tuple[pa.Table, list[Reject]]:
    """Never raises for bad data: → (rows, rejects)."""
    rejects: list[Reject] = []
    files = unit_files(unit)
    try:
        if unit["kind"] == "dicom":  # per-file limits inside read_series; slicing gets one more file's budget
            vol = _load_dicom(unit, opts, rejects)
            if vol is None:
                return S.SCHEMA.empty_table(), rejects
            with time_limit(opts.file_timeout_s, "slicing"):
                table = volume_rows(vol, unit, opts)
        else:
            with time_limit(opts.file_timeout_s * len(files), f"{len(files)} file(s)"):
                vol = _load_brats(unit, opts) if unit["kind"] == "brats" else _load_nifti(unit, opts)
                table = volume_rows(vol, unit, opts)
    except InputError as e:
        reason = Reason(e.reason) if e.reason in Reason._value2member_map_ else Reason.DECODE_ERROR
        return S.SCHEMA.empty_table(), rejects + [reject(f, reason, e.detail) for f in files]
    except Exception as e:  # a reader bug (OverflowError, NotImplementedError, ...) must not stop the batch
        return S.SCHEMA.empty_table(), rejects + [reject(f, Reason.DECODE_ERROR, type(e).__name__) for f in files]
    if table.num_rows == 0:
        rejects.append(reject(files[0], Reason.EMPTY, "every slice was near-empty"))
    return table, rejects
