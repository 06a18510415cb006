"""The PixMed ghost-U-Net cGAN deployment: BraTS label map → synthetic MRI slice.

Always deployed; without a checkpoint (and without the dev flag) it holds no model and /v1/augment?mode=
synthesize answers 503 "not_configured" instead of serving random weights.

The U-Net needs sides that are multiples of 2^n_downs, so the mask is padded with background up to the
next multiple and the image cropped back. Batched with ``@serve.batch`` like the enhancer."""
from __future__ import annotations

import asyncio

import numpy as np
import torch
from ray import serve

from medray.config import InputError
from medray.models.cgan import BRATS_LABELS, CGANConfig, build_cgan_generator, encode_mask
from medray.serve.model_loader import load_served_model


def _untrained():
    cfg = CGANConfig(width=16, n_downs=5)
    return build_cgan_generator(cfg), cfg


@serve.deployment
class Synthesizer:
    def __init__(self, checkpoint: str | None = None, allow_untrained: bool = False, max_batch_size: int = 4,
                 batch_wait_timeout_s: float = 0.0, torch_threads: int | None = None):
        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.served = None
        if checkpoint or allow_untrained:
            self.served = load_served_model(checkpoint, "pixmed", allow_untrained, _untrained)
            self.model = self.served.model
            self.cfg: CGANConfig = self.served.config
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def info(self) -> dict | None:
        if self.served is None:
            return None
        d = self.served.info()
        d.update(mask_channels=self.cfg.mask_channels, out_channels=self.cfg.out_channels,
                 multiple_of=2 ** self.cfg.n_downs)
        return d

    def _run(self, masks: list[np.ndarray]) -> list[np.ndarray]:
        """uint8 [H, W] label maps → float32 [out_channels, H, W] in [0, 1]; same-size masks share a forward."""
        out: list[np.ndarray | None] = [None] * len(masks)
        groups: dict[tuple, list[int]] = {}
        for i, m in enumerate(masks):
            groups.setdefault(m.shape, []).append(i)
        step = 2 ** self.cfg.n_downs
        for (h, w), idx in groups.items():
            padded = np.stack([np.pad(masks[i], ((0, -h % step), (0, -w % step))) for i in idx])
            with torch.no_grad():
                x = encode_mask(padded, self.cfg.mask_channels).to(self.served.device)
                y = self.model(x).clamp_(0.0, 1.0)[:, :, :h, :w].cpu()
            for i, img in zip(idx, y.numpy().astype(np.float32)):
                out[i] = img
        return out

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.0)
    async def _batched(self, masks: list[np.ndarray]) -> list[np.ndarray]:
        return await asyncio.to_thread(self._run, masks)

    async def synthesize(self, labels: np.ndarray) -> np.ndarray:
        if self.served is None:
            raise InputError("not_configured", "no cGAN checkpoint is configured (synth_checkpoint)")
        bad = np.setdiff1d(np.unique(labels), BRATS_LABELS)
        if labels.ndim != 2 or bad.size:  # checked here so one bad mask never fails its batch-mates
            raise InputError("bad_mask", f"mask {labels.shape} has labels {bad.tolist()}; valid BraTS labels "
                             f"are {list(BRATS_LABELS)} in a 2-D label map")
        return await self._batched(labels)
