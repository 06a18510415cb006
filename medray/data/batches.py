"""Numpy shard batch → torch training/validation batch, used as ``collate_fn`` of ``iter_torch_batches``.

Training: decode, crop an aligned window, draw one augmentation per sample (seeded by seed, epoch, rank and
the batch counter, so a rerun of the same epoch on the same worker sees the same transforms), apply it to
LR/HR/mask alike, and centre-crop the final P-pixel patch. Validation: decode whole slices, no augmentation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from medray.data.augment import AugmentConfig, apply_params, sample_params
from medray.data.crops import augment_window, center_crop_aligned, check_patch, crop_aligned, random_origin
from medray.shards.decode import decode_batch
from medray.data.vitals import vitals_from_batch
from medray.shards.schema import SIZE


@dataclass(frozen=True)
class BatchSpec:
    n_channels: int
    scale: int | None  # None for mask→image (no LR needed)
    patch: int
    augment: AugmentConfig | None = AugmentConfig()
    seed: int = 0

    def __post_init__(self):
        check_patch(self.patch, self.scale or 1, SIZE)


def _to_torch(lr, hr, mask, has_mask, vitals) -> dict:
    out = {
        "hr": torch.from_numpy(np.ascontiguousarray(hr, dtype=np.float32)),
        "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8)),
        "has_mask": torch.from_numpy(has_mask),
        "vitals": torch.from_numpy(vitals),
    }
    if lr is not None:
        out["lr"] = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32))
    return out


class TrainCollate:
    """Random aligned crop + per-sample augmentation. Build one per epoch (the epoch is part of the seed)."""

    def __init__(self, spec: BatchSpec, epoch: int, rank: int):
        self.spec, self.epoch, self.rank, self.calls = spec, epoch, rank, 0

    def __call__(self, batch: dict) -> dict:
        s = self.spec
        scale = s.scale or 1
        rng = np.random.default_rng([s.seed, self.epoch, self.rank, self.calls])
        self.calls += 1
        dec = decode_batch(batch, s.n_channels, s.scale)
        window = augment_window(s.patch, scale, SIZE) if s.augment is not None else s.patch
        lrs, hrs, masks = [], [], []
        for i in range(len(dec["hr"])):
            y, x = random_origin(rng, SIZE, window, scale)
            lr, hr, m = crop_aligned(dec["lr"][i] if s.scale else None, dec["hr"][i], dec["mask"][i], y, x, window, scale)
            if s.augment is not None:
                imgs, (m,) = apply_params(sample_params(rng, s.augment), [hr] + ([lr] if s.scale else []), [m])
                hr, lr = imgs[0], (imgs[1] if s.scale else None)
                lr, hr, m = center_crop_aligned(lr, hr, m, s.patch, scale)
            lrs.append(lr)
            hrs.append(hr)
            masks.append(m)
        n = len(hrs)
        return _to_torch(np.stack(lrs) if s.scale else None, np.stack(hrs), np.stack(masks),
                         dec["has_mask"], vitals_from_batch(batch, n))


class EvalCollate:
    """Whole slices, no augmentation: what validation and evaluation score."""

    def __init__(self, n_channels: int, scale: int | None):
        self.n_channels, self.scale = n_channels, scale

    def __call__(self, batch: dict) -> dict:
        dec = decode_batch(batch, self.n_channels, self.scale)
        return _to_torch(dec.get("lr"), dec["hr"], dec["mask"], dec["has_mask"], vitals_from_batch(batch, len(dec["hr"])))
