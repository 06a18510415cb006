"""Label map → synthetic image: uint8 label maps (DESIGN.md label values) in, float32 images in [0, 1] out.

The U-Net needs sides that are multiples of 2^n_downs, so a map is padded with background up to the next
multiple and the image cropped back. ``synthesize_batch`` is the tensor-level call (validation, evaluation);
``SynthesizePipeline`` groups maps of one size into shared forwards for the service.

Noise source: as in pix2pix and the paper, the generator's dropout. ``seed=None`` is the deterministic forward
(dropout off: evaluation, validation). With a seed the dropout layers run as in training, drawn from a private
generator seeded by it, so a seed gives the same image every time and n copies of one map in a batch (or n
seeds) give n different images. BatchNorm stays in eval mode either way.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from medray.config import InputError
from medray.models.cgan import VALID_LABELS, encode_mask


def check_labels(labels: np.ndarray) -> None:
    """A 2-D map of DESIGN.md label values (0, 1, 2, 4, 10, 11, 12), whichever condition the model uses: a
    tumour-conditioned model reads tissue labels as background (encode_mask)."""
    bad = np.setdiff1d(np.unique(labels), VALID_LABELS)
    if labels.ndim != 2 or bad.size:
        raise InputError("bad_mask", f"mask {labels.shape} has labels {bad.tolist()}; valid labels are "
                         f"{list(VALID_LABELS)} in a 2-D label map")


class _SeededDropout:
    """Dropout on (BatchNorm untouched) for one forward, drawn from torch's RNG forked and seeded by ``seed``."""

    def __init__(self, model, seed: int | None, device: torch.device):
        self.seed, self.device = seed, device
        self.drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)] if seed is not None else []
        self.fork = None

    def __enter__(self):
        if self.seed is None:
            return
        cuda = [self.device] if self.device.type == "cuda" else []  # on a GPU dropout draws from its CUDA RNG
        self.fork = torch.random.fork_rng(devices=cuda)
        self.fork.__enter__()
        torch.manual_seed(int(self.seed))
        for m in self.drops:
            m.train(True)

    def __exit__(self, *exc):
        if self.seed is None:
            return
        for m in self.drops:
            m.train(False)
        self.fork.__exit__(*exc)


@torch.inference_mode()
def synthesize_batch(model, labels, seed: int | None = None) -> torch.Tensor:
    """Label maps [B, H, W] (numpy or torch, any H, W) → images [B, C, H, W] in [0, 1] on the model's device.

    ``seed``: None = deterministic (dropout off); an int = seeded dropout noise (see the module doc)."""
    cfg = model.cfg
    t = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    h, w = t.shape[-2:]
    step = 2 ** cfg.n_downs
    t = F.pad(t.reshape(-1, h, w).long(), (0, -w % step, 0, -h % step))  # padded with label 0, background
    device = next(model.parameters()).device
    x = encode_mask(t, cfg.mask_channels, cfg.condition).to(device)
    with _SeededDropout(model, seed, device):
        y = model(x)
    return y.float().clamp_(0.0, 1.0)[:, :, :h, :w]


class SynthesizePipeline:
    def __init__(self, model: torch.nn.Module):
        self.model = model.eval()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def run(self, maps: list[np.ndarray], seeds: list[int | None] | None = None) -> list[np.ndarray]:
        """uint8 [H, W] label maps → float32 [out_channels, H, W]. Unseeded maps of one size share a forward;
        a seeded map runs alone, so its image depends on (map, seed) only, never on its batch-mates."""
        seeds = [None] * len(maps) if seeds is None else list(seeds)
        out: list[np.ndarray | None] = [None] * len(maps)
        groups: dict[tuple, list[int]] = {}
        for i, (m, s) in enumerate(zip(maps, seeds)):
            groups.setdefault((m.shape, None) if s is None else (m.shape, s, i), []).append(i)
        for key, idx in groups.items():
            seed = None if len(key) == 2 else key[1]
            y = synthesize_batch(self.model, np.stack([maps[i] for i in idx]), seed)
            y = y.cpu().numpy().astype(np.float32)
            for i, img in zip(idx, y):
                out[i] = img
        return out
