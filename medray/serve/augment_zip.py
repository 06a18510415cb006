"""What /v1/augment returns: a ZIP archive (``application/zip``) of PNG files plus ``manifest.json``.

classic     variant_000.png … variant_{n-1}.png  seeded variants of the input slice (rotation, scale,
            translation, flips, intensity; ``medray.data.augment.augment_image`` with seed = seed + i),
            at the input's bit depth (16-bit for 16-bit PNG, DICOM and NIfTI inputs, else 8-bit).
synthesize  mask_000.png, synthetic_000.png …  mask i is the input label map (i = 0) or a seeded
            geometric variant of it (i ≥ 1); synthetic i is the cGAN's 16-bit MRI slice for mask i
            (one file per output channel, suffixed _c<k>, when the model has several).
manifest.json  {"mode", "n", "seed", "model" (synthesize), "files": [...]}.
"""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from medray.data.augment import AugmentConfig, augment_image
from medray.serve.codecs.png import encode_png_array

# Masks get geometry only: intensity changes mean nothing for labels.
MASK_AUGMENT = AugmentConfig(gamma_range=(1.0, 1.0), contrast_range=(1.0, 1.0), brightness=0.0)


def _square(a: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """augment_image wants square arrays: pad (edge values) to the longer side; return the crop origin."""
    h, w = a.shape
    n = max(h, w)
    top, left = (n - h) // 2, (n - w) // 2
    return np.pad(a, ((top, n - h - top), (left, n - w - left)), mode="edge"), (top, left)


def classic_variants(image: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """``n`` seeded variants of a float [H, W] image in [0, 1]."""
    sq, (top, left) = _square(image)
    h, w = image.shape
    return [augment_image(sq, seed=seed + i)[0][top: top + h, left: left + w] for i in range(n)]


def mask_variants(labels: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """The label map itself, then ``n - 1`` seeded geometric variants (nearest, labels stay labels)."""
    sq, (top, left) = _square(labels)
    h, w = labels.shape
    out = [labels]
    for i in range(1, n):
        _, m = augment_image(np.zeros(sq.shape, np.float32), sq, seed=seed + i, cfg=MASK_AUGMENT)
        out.append(np.ascontiguousarray(m[top: top + h, left: left + w]).astype(np.uint8))
    return out


def variant_seed(seed: int, i: int) -> int:
    """The generator-noise seed of variant ``i`` of a request seeded ``seed`` (distinct per i, reproducible)."""
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


def label_png(labels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def build_zip(files: dict[str, bytes], manifest: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:  # PNGs are compressed already
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("manifest.json", json.dumps({**manifest, "files": list(files)}, indent=2))
    return buf.getvalue()


def png16(img: np.ndarray) -> bytes:
    return encode_png_array(img, 16)
