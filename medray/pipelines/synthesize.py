"""Label map → synthetic image: uint8 label maps (DESIGN.md label values) in, float32 images in [0, 1] out.

The U-Net needs sides that are multiples of 2^n_downs, so a map is padded with background up to the next
multiple and the image cropped back. ``synthesize_batch`` is the tensor-level call (validation, evaluation);
``SynthesizePipeline`` groups maps of one size into shared forwards for the service.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from medray.config import InputError
from medray.models.cgan import BRATS_LABELS, encode_mask


def check_labels(labels: np.ndarray) -> None:
    bad = np.setdiff1d(np.unique(labels), BRATS_LABELS)
    if labels.ndim != 2 or bad.size:
        raise InputError("bad_mask", f"mask {labels.shape} has labels {bad.tolist()}; valid labels are "
                         f"{list(BRATS_LABELS)} in a 2-D label map")


@torch.inference_mode()
def synthesize_batch(model, labels) -> torch.Tensor:
    """Label maps [B, H, W] (numpy or torch, any H, W) → images [B, C, H, W] in [0, 1] on the model's device."""
    cfg = model.cfg
    t = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    h, w = t.shape[-2:]
    step = 2 ** cfg.n_downs
    t = F.pad(t.reshape(-1, h, w).long(), (0, -w % step, 0, -h % step))  # padded with label 0, background
    x = encode_mask(t, cfg.mask_channels).to(next(model.parameters()).device)
    return model(x).float().clamp_(0.0, 1.0)[:, :, :h, :w]


class SynthesizePipeline:
    def __init__(self, model: torch.nn.Module):
        self.model = model.eval()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def run(self, maps: list[np.ndarray]) -> list[np.ndarray]:
        """uint8 [H, W] label maps → float32 [out_channels, H, W]; same-size maps share a forward."""
        out: list[np.ndarray | None] = [None] * len(maps)
        groups: dict[tuple, list[int]] = {}
        for i, m in enumerate(maps):
            groups.setdefault(m.shape, []).append(i)
        for idx in groups.values():
            y = synthesize_batch(self.model, np.stack([maps[i] for i in idx])).cpu().numpy().astype(np.float32)
            for i, img in zip(idx, y):
                out[i] = img
        return out
