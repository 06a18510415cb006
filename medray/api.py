"""The Python API for scripts and notebooks: ``medray.enhance`` and ``medray.synthesize`` on the shipped weights
(or ``checkpoint=``), through the same pipelines, readers and intensity normalisation as the service.

    import medray
    sr = medray.enhance("scan.nii.gz", scale=2, vitals={"heart_rate": 72, "spo2": 98, "temperature": 36.8,
                                                        "mobility": 0.2})
    sr.image.shape, sr.alpha            # (2·X, 2·Y, Z) in the scan's own units, and the α the vitals gave
    imgs = medray.synthesize(label_map, n=4, seed=0)   # [4, C, H, W] in [0, 1]

Arrays and files are read in the layout medray's readers use: a 2-D slice ``(H, W)``, or a stack of slices along
the *last* axis ``(H, W, N)`` (a NIfTI's (x, y, z) in RAS+, a DICOM series' (rows, columns, slices)).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medray.config import ConfigError, InputError, check_choice
from medray.imaging.normalise import DEFAULT_CT_WINDOW, fit_intensity
from medray.imaging.writeback import write_back

_NIFTI = (".nii", ".nii.gz")


@dataclass
class Enhanced:
    image: np.ndarray  # float32, the input's layout with in-plane sides × scale, in the input's units
    alpha: float
    alpha_source: str  # vitals | default | explicit | disabled
    model: str  # "<kind>:<checkpoint file name>"

    def __array__(self, dtype=None, copy=None):
        return self.image if dtype is None else self.image.astype(dtype)


def _vitals_vector(vitals) -> list[float] | None:
    from medray.vitals.fields import VITALS_FIELDS

    if vitals is None:
        return None
    if isinstance(vitals, Mapping):
        unknown = sorted(set(vitals) - set(VITALS_FIELDS))
        if unknown:
            raise InputError("bad_vitals", f"unknown vitals {unknown}; valid: {list(VITALS_FIELDS)}")
        return [float(vitals.get(k, float("nan"))) for k in VITALS_FIELDS]  # NaN = absent
    vec = [float(v) for v in vitals]
    if len(vec) != len(VITALS_FIELDS):
        raise InputError("bad_vitals", f"{len(vec)} vitals given; expected {len(VITALS_FIELDS)}: {list(VITALS_FIELDS)}")
    return vec


def _read(source, modality: str | None) -> tuple[np.ndarray, str]:
    """→ (values float32 (H, W) or (H, W, N), modality "CT"/"MR")."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InputError("not_found", f"{str(path)!r} does not exist")
        if path.name.lower().endswith(_NIFTI):
            from medray.imaging.nifti import guess_modality, load_volume

            vol = load_volume(path)[0]
            return vol, modality or guess_modality(vol)
        from medray.imaging.dicom import read_header, read_series

        files = sorted(str(p) for p in path.iterdir() if p.is_file()) if path.is_dir() else [str(path)]
        vol, _, errors = read_series(files)
        if vol is None:
            raise InputError("unreadable", f"{str(path)!r}: no DICOM image could be read "
                             f"({'; '.join(f'{Path(p).name}: {e}' for p, e in errors[:3])}); NIfTI needs .nii/.nii.gz")
        return vol, modality or read_header(Path(files[0]))["modality"]
    arr = np.asarray(source)
    if arr.ndim not in (2, 3) or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError("bad_array", f"array {arr.dtype} {arr.shape}: expected a real 2-D slice (H, W) or a stack "
                         "(H, W, N)")
    return arr.astype(np.float32), modality or "MR"


def enhance(image, scale: int = 2, vitals=None, *, alpha: float | None = None, checkpoint=None,
            modality: str | None = None, ct_window: str = DEFAULT_CT_WINDOW) -> Enhanced:
    """Super-resolve a slice or volume by ``scale``. ``image``: a numpy array, or a NIfTI (.nii/.nii.gz), DICOM
    file or folder of one DICOM series. ``vitals``: {heart_rate, spo2, temperature, mobility} (missing ones
    count as absent) or those four in order; they set α as in the service. ``modality`` ("CT": HU through
    ``ct_window``; "MR": percentiles) defaults to the file's, and to MR for arrays. Values outside the model's
    window (air and bone around a CT window) come back from the bicubic upsample, as the service writes them."""
    from medray.pipelines.enhance import EnhancePipeline
    from medray.pipelines.loading import load_model, resolve_checkpoint

    if modality is not None:
        check_choice("modality", modality, ["CT", "MR"])
    values, mod = _read(image, modality)
    ckpt = resolve_checkpoint(checkpoint, "sr", scale, option="checkpoint=")
    model, loaded = load_model(ckpt, "sr")
    if model.scale != scale:
        raise ConfigError(f"scale={scale}: the checkpoint {Path(ckpt).name} is a ×{model.scale} model; valid scales "
                          f"for it: [{model.scale}]")
    stack = values[..., None] if values.ndim == 2 else values
    raw = np.moveaxis(stack, -1, 0)  # (N, H, W)
    intensity = fit_intensity(raw, mod, ct_window)
    x = intensity.forward(raw)[:, None]
    out, a, source = EnhancePipeline(model)(np.repeat(x, model.in_channels, 1) if model.in_channels > 1 else x,
                                            _vitals_vector(vitals), alpha)
    result = np.moveaxis(write_back(out[:, 0], raw, intensity).astype(np.float32), 0, -1)
    return Enhanced(result[..., 0] if values.ndim == 2 else result, a, source,
                    f"{loaded.task.name}:{Path(ckpt).name}")


def synthesize(label_map, n: int = 4, seed: int = 0, *, checkpoint=None) -> np.ndarray:
    """``n`` synthetic images [n, C, H, W] in [0, 1] for one label map (2-D uint8 array or PNG path; labels 0,
    1, 2, 4 tumour and 10, 11, 12 tissue, DESIGN.md), seeds ``seed`` … ``seed + n − 1`` (the same seed gives
    the same image)."""
    from medray.pipelines.loading import load_model, resolve_checkpoint
    from medray.pipelines.synthesize import SynthesizePipeline, check_labels

    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n={n!r} must be an integer ≥ 1")
    if isinstance(label_map, (str, Path)):
        from PIL import Image

        with Image.open(label_map) as im:
            label_map = np.asarray(im)
    labels = np.asarray(label_map)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError("bad_mask", f"label map dtype {labels.dtype}: expected integer labels")
    check_labels(labels)
    model, _ = load_model(resolve_checkpoint(checkpoint, "synth", option="checkpoint="), "synth")
    imgs = SynthesizePipeline(model).run([labels.astype(np.uint8)] * n, [seed + i for i in range(n)])
    return np.stack(imgs)

