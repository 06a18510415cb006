"""Overlapping tiles for big slices: bounded memory, and seamless because every output pixel is taken from the
tile in which it lies at least ``overlap`` LR pixels away from a tile edge. The SR nets have no global
operation (no pooling, no normalisation over the image), so with ``overlap`` ≥ their receptive-field radius a
tiled result equals the untiled one up to float rounding (tested within 1e-4)."""
from __future__ import annotations

from typing import Callable

import torch

from medray.config import check_range


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], lr: torch.Tensor, scale: int, tile: int,
          overlap: int) -> torch.Tensor:
    """``fn(lr)`` computed tile by tile over ``lr`` [B, C, H, W]; tiles are ``tile`` LR pixels including the
    ``overlap`` margins. One call of ``fn`` when the slice fits in one tile."""
    check_range("tile", tile, 2 * overlap + 1, None)
    _, _, h, w = lr.shape
    if h <= tile and w <= tile:
        return fn(lr)
    core = tile - 2 * overlap  # output pixels each tile contributes, per side
    out = None
    for y0 in range(0, h, core):
        for x0 in range(0, w, core):
            y1, x1 = min(h, y0 + core), min(w, x0 + core)
            ys, xs = max(0, y0 - overlap), max(0, x0 - overlap)
            ye, xe = min(h, y1 + overlap), min(w, x1 + overlap)
            res = fn(lr[:, :, ys:ye, xs:xe])
            if out is None:
                out = res.new_empty(lr.shape[0], res.shape[1], h * scale, w * scale)
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                res[:, :, (y0 - ys) * scale:(y1 - ys) * scale, (x0 - xs) * scale:(x1 - xs) * scale]
    return out
