"""The super-resolution deployment: serves any SR kind through medray/pipelines/enhance.py. Requests are
batched with ``@serve.batch``: slices of all requests in a batch that share a shape go through the model
together, each with its own α (computed once per request, before batching)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import torch
from ray import serve

from medray.config import from_dict
from medray.pipelines.enhance import EnhancePipeline, EnhanceRequest, InferenceOptions
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


def _replica_cpus() -> int:
    """Torch threads = the CPUs Serve gave this replica (ray_actor_options.num_cpus), not the host's count:
    more threads than granted CPUs only contend with the replica's neighbours."""
    import ray

    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    except Exception:  # noqa: BLE001 - outside a Ray worker (unit tests): one thread per core is the default
        return torch.get_num_threads()
    return max(1, int(round(cpus)))


@serve.deployment
class Enhancer:
    def __init__(self, checkpoint: str | None = None, allow_untrained: bool = False, batching: bool = True,
                 max_batch_size: int = 8, batch_wait_timeout_s: float = 0.0, chunk_slices: int = 16,
                 torch_threads: int | None = None, inference: dict | None = None):
        torch.set_num_threads(torch_threads or _replica_cpus())
        self.served = load_served_model(checkpoint, "sr", allow_untrained)
        options = from_dict(InferenceOptions, dict(inference or {}), where="inference")
        self.pipeline = EnhancePipeline(self.served.model, chunk_slices, options)
        self.batching = batching
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def info(self) -> dict:
        d = self.served.info()
        m = self.served.model
        d.update(scale=m.scale, in_channels=m.in_channels, alpha_max=m.alpha_max, alpha_default=m.alpha_default,
                 batching=self.batching, torch_threads=torch.get_num_threads(),
                 inference=vars(self.pipeline.options))
        return d

    def alpha_for(self, vitals: list[float] | None) -> dict:
        a, src = self.pipeline.alpha(vitals)
        return {"alpha": a, "alpha_source": src}

    def _run(self, jobs: list[tuple[EnhanceJob, float, str]]) -> list[EnhanceResult]:
        outs = self.pipeline.run([EnhanceRequest(job.slices, a) for job, a, _ in jobs])
        return [EnhanceResult(o, a, s) for o, (_, a, s) in zip(outs, jobs)]

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.0)
    async def _batched(self, jobs: list[tuple[EnhanceJob, float, str]]) -> list[EnhanceResult]:
        # The forward runs in a thread so the replica keeps accepting requests into the next batch.
        return await asyncio.to_thread(self._run, jobs)

    async def enhance(self, job: EnhanceJob) -> EnhanceResult:
        # checked and α'd per request before batching, so one bad request never fails its batch-mates
        self.pipeline.check(job.slices, job.alpha)
        a, source = self.pipeline.alpha(job.vitals, job.alpha)
        if self.batching:
            return await self._batched((job, a, source))
        return (await asyncio.to_thread(self._run, [(job, a, source)]))[0]
