"""The synthesis deployment: label map → synthetic image through medray/pipelines/synthesize.py, for any
synthesis kind. Always deployed; without a checkpoint (and without the dev flag) it holds no model and
/v1/augment?mode=synthesize answers 503 "not_configured" instead of serving random weights (the builder passes
the shipped medray/weights/pixmed.pt when no checkpoint is named). Batched with ``@serve.batch`` like the enhancer.
A request's ``seed`` seeds the generator's dropout (pipelines/synthesize.py), so variants differ and repeat."""
from __future__ import annotations

import asyncio

import numpy as np
import torch
from ray import serve

from medray.config import InputError
from medray.pipelines.synthesize import SynthesizePipeline, check_labels
from medray.serve.model_loader import load_served_model


@serve.deployment
class Synthesizer:
    def __init__(self, checkpoint: str | None = None, allow_untrained: bool = False, max_batch_size: int = 4,
                 batch_wait_timeout_s: float = 0.0, torch_threads: int | None = None):
        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.served = None
        if checkpoint or allow_untrained:
            self.served = load_served_model(checkpoint, "synth", allow_untrained)
            self.pipeline = SynthesizePipeline(self.served.model)
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def info(self) -> dict | None:
        if self.served is None:
            return None
        cfg = self.served.config
        d = self.served.info()
        d.update(condition=cfg.condition, mask_channels=cfg.mask_channels, out_channels=cfg.out_channels,
                 multiple_of=2 ** cfg.n_downs)
        return d

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.0)
    async def _batched(self, jobs: list[tuple[np.ndarray, int | None]]) -> list[np.ndarray]:
        return await asyncio.to_thread(self.pipeline.run, [m for m, _ in jobs], [s for _, s in jobs])

    async def synthesize(self, labels: np.ndarray, seed: int | None = None) -> np.ndarray:
        """One label map → [out_channels, H, W]; ``seed`` None = the deterministic (dropout-off) image."""
        if self.served is None:
            raise InputError("not_configured", "no synthesis checkpoint is configured (synth_checkpoint)")
        check_labels(labels)  # here, so one bad map never fails its batch-mates
        return await self._batched((labels, seed))
