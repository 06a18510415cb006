"""The IoT-GAN super-resolution deployment. Requests are batched with ``@serve.batch``: slices of all
requests in a batch that share a shape go through the generator together, each with its own α."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import torch
from ray import serve

from medray.config import InputError
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.serve.model_loader import load_served_model


@dataclass
class EnhanceJob:
    slices: np.ndarray  # float32 [N, C, H, W] in [0, 1]
    vitals: list[float] | None  # raw (heart_rate, spo2, temperature, mobility) or None = absent
    alpha: float | None  # explicit override (already range-checked by the ingress)


@dataclass
class EnhanceResult:
    slices: np.ndarray  # float32 [N, C, H*s, W*s] in [0, 1]
    alpha: float
    alpha_source: str  # vitals | default | explicit | disabled


def _untrained():
    cfg = SRGeneratorConfig(in_channels=1, scale=2)
    return build_generator(cfg), cfg


@serve.deployment
class Enhancer:
    def __init__(self, checkpoint: str | None = None, allow_untrained: bool = False, batching: bool = True,
                 max_batch_size: int = 8, batch_wait_timeout_s: float = 0.0, chunk_slices: int = 16,
                 torch_threads: int | None = None):
        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.served = load_served_model(checkpoint, "iotgan", allow_untrained, _untrained)
        self.model = self.served.model
        self.cfg: SRGeneratorConfig = self.served.config
        self.batching = batching
        self.chunk = max(1, chunk_slices)
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def info(self) -> dict:
        d = self.served.info()
        d.update(scale=self.cfg.scale, in_channels=self.cfg.in_channels, alpha_max=self.cfg.alpha_max,
                 alpha_default=self.cfg.alpha_default, batching=self.batching)
        return d

    def _alphas(self, jobs: list[EnhanceJob]) -> tuple[list[float], list[str]]:
        """One α per job: the override, or the model's own ``alpha_for`` on the job's vitals."""
        alphas, sources = [], []
        with torch.no_grad():
            for job in jobs:
                vit = None if job.vitals is None else torch.tensor([job.vitals], dtype=torch.float32,
                                                                   device=self.served.device)
                a = self.model.alpha_for(vit, 1, job.alpha)
                alphas.append(float(a[0]))
                sources.append(self._source(job))
        return alphas, sources

    def _source(self, job: EnhanceJob) -> str:
        """Where α came from, derived here rather than read from the model's ``last_alpha_source``, which
        concurrent requests (unbatched mode runs forwards in parallel threads) would race on."""
        if not self.cfg.vitals_adaptive:
            return "disabled"
        if job.alpha is not None:
            return "explicit"
        if job.vitals is None or any(v != v for v in job.vitals):  # v != v: NaN = absent
            return "default"
        return "vitals"

    def alpha_for(self, vitals: list[float] | None) -> dict:
        (a,), (src,) = self._alphas([EnhanceJob(np.zeros((0, 1, 1, 1), np.float32), vitals, None)])
        return {"alpha": a, "alpha_source": src}

    def _run(self, jobs: list[EnhanceJob]) -> list[EnhanceResult]:
        """Forward all slices of ``jobs``, grouped by shape and cut into chunks that bound memory."""
        alphas, sources = self._alphas(jobs)
        outs = [np.empty((j.slices.shape[0], j.slices.shape[1], j.slices.shape[2] * self.cfg.scale,
                          j.slices.shape[3] * self.cfg.scale), np.float32) for j in jobs]
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for ji, job in enumerate(jobs):
            for si in range(job.slices.shape[0]):
                groups.setdefault(job.slices.shape[1:], []).append((ji, si))
        with torch.no_grad():
            for members in groups.values():
                for start in range(0, len(members), self.chunk):
                    part = members[start: start + self.chunk]
                    dev = self.served.device
                    lr = torch.from_numpy(np.stack([jobs[ji].slices[si] for ji, si in part])).to(dev)
                    alpha = torch.tensor([alphas[ji] for ji, _ in part], dtype=torch.float32, device=dev)
                    sr = self.model(lr, None, alpha).clamp_(0.0, 1.0).cpu().numpy()
                    for (ji, si), img in zip(part, sr):
                        outs[ji][si] = img
        return [EnhanceResult(o, a, s) for o, a, s in zip(outs, alphas, sources)]

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.0)
    async def _batched(self, jobs: list[EnhanceJob]) -> list[EnhanceResult]:
        # The forward runs in a thread so the replica keeps accepting requests into the next batch.
        return await asyncio.to_thread(self._run, jobs)

    def _check(self, job: EnhanceJob) -> None:
        """Per-request checks happen before batching, so one bad request never fails its batch-mates."""
        if job.slices.ndim != 4 or job.slices.shape[1] != self.cfg.in_channels:
            raise InputError("bad_channels", f"input slices {job.slices.shape} have the wrong channel count; the "
                             f"model takes {self.cfg.in_channels}")
        if job.alpha is not None and not 0.0 <= job.alpha <= self.cfg.alpha_max:
            raise InputError("bad_alpha", f"alpha={job.alpha} is out of range [0, {self.cfg.alpha_max}]")

    async def enhance(self, job: EnhanceJob) -> EnhanceResult:
        self._check(job)
        if self.batching:
            return await self._batched(job)
        return (await asyncio.to_thread(self._run, [job]))[0]
