"""A small tumour segmenter for PixMed's mask-consistency and augmentation checks.

Whole tumour (labels 1/2/4) vs everything else on single-channel slices. A three-level encoder–decoder with skip
connections (~30 k parameters at width 8), GroupNorm (few slices: BatchNorm's running statistics would be poor),
trained with Dice + BCE, seeded. Small on purpose: it must train in a minute on one shared CPU core, and the
question it answers is relative (does a segmenter trained on real slices find the conditioning tumour in a
synthetic slice; does adding synthetic slices help it on held-out real ones), not state of the art.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from medray.config import InputError, check_range
from medray.models.cgan import TUMOUR_LABELS


def tumour_mask(labels: np.ndarray) -> np.ndarray:
    """Label maps → float32 whole-tumour masks (labels 1/2/4; tissue labels 10/11/12 are not tumour)."""
    return np.isin(np.asarray(labels), TUMOUR_LABELS).astype(np.float32)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(4, cout), nn.ReLU(True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.GroupNorm(4, cout), nn.ReLU(True))


class TumourSegmenter(nn.Module):
    """[B, C, H, W] in [0, 1], H and W multiples of 4 → tumour logits [B, 1, H, W]."""

    def __init__(self, in_channels: int = 1, width: int = 8):
        super().__init__()
        w = width
        self.e1, self.e2, self.e3 = _block(in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.d2, self.d1 = _block(6 * w, 2 * w), _block(3 * w, w)
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        d2 = self.d2(torch.cat([F.interpolate(e3, scale_factor=2.0), e2], 1))
        d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1))
        return self.head(d1)


def _check(images: np.ndarray, masks: np.ndarray | None, name: str) -> torch.Tensor:
    x = np.asarray(images, np.float32)
    x = x[:, None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[2] % 4 or x.shape[3] % 4:
        raise InputError("bad_shape", f"{name} images must be [N, (C,) H, W] with H, W multiples of 4, got {x.shape}")
    if masks is not None and np.asarray(masks).shape != (x.shape[0], *x.shape[2:]):
        raise InputError("bad_shape", f"{name} masks must be [N, H, W] = {(x.shape[0], *x.shape[2:])}, "
                                      f"got {np.asarray(masks).shape}")
    return torch.from_numpy(np.ascontiguousarray(x))


def train_segmenter(images: np.ndarray, masks: np.ndarray, *, seed: int = 0, epochs: int = 8, batch_size: int = 16,
                    lr: float = 3e-3, width: int = 8) -> TumourSegmenter:
    """Fit a TumourSegmenter to (images, binary masks); seeded: same inputs and seed → same weights."""
    check_range("epochs", epochs, 1, 1000)
    x = _check(images, masks, "train")
    y = torch.from_numpy(np.asarray(masks, np.float32))[:, None]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = TumourSegmenter(x.shape[1], width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    pos = float(y.mean().clamp(min=1e-4))
    bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(min(20.0, (1 - pos) / pos)))
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            logits = model(x[idx])
            p = torch.sigmoid(logits)
            dice = 1 - (2 * (p * y[idx]).sum() + 1) / (p.sum() + y[idx].sum() + 1)
            loss = bce(logits, y[idx]) + dice
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def segment(model: TumourSegmenter, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    x = _check(images, None, "test")
    return np.concatenate([(model(x[i:i + batch_size]) > 0).numpy()[:, 0] for i in range(0, len(x), batch_size)])


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice over all pixels of the set (a slice without tumour in either counts as agreement, adds nothing)."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    denom = p.sum() + t.sum()
    return float(2 * (p & t).sum() / denom) if denom else float("nan")
