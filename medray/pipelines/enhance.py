"""Super-resolution inference: LR slices in [0, 1] → SR slices in [0, 1], with α computed once per request.

Works with any model that speaks the SR protocol of medray/tasks/sr.py (``scale``, ``in_channels``,
``alpha_max``, ``alpha_default``, ``alpha_for(vitals, B, alpha) -> (α, source)``, ``forward(lr, vitals, alpha)``).
``enhance_batch`` is the tensor-level call (validation, evaluation); ``EnhancePipeline`` adds what a service
needs: numpy in/out, per-request α, grouping by shape, forwards bounded by a pixel budget, overlapping tiles for
big slices, channels-last memory, optional bf16 autocast and the backend that runs the model: torch (``eager``)
or an exported graph on ONNX Runtime (``onnx``, medray/pipelines/onnx_backend.py) (``InferenceOptions``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from medray.config import ConfigError, InputError, check_choice, check_range
from medray.pipelines.tiling import tiled

DTYPES = ("fp32", "bf16")
BACKENDS = ("eager", "onnx")


@dataclass(frozen=True)
class InferenceOptions:
    """How the enhance pipeline runs a model. The defaults keep fp32 results; bf16 trades ~1e-2 of precision
    for speed on CPUs with AVX-512 BF16 and on GPUs (measured in benchmarks/inference.py)."""

    dtype: str = "fp32"  # fp32 | bf16 (autocast)
    channels_last: bool = True  # NHWC: oneDNN's fast layout for these convs
    max_pixels: int = 512 * 512  # LR pixels per forward: bounds activation memory (slices × H × W)
    tile: int = 512  # LR tile side (incl. margins) for slices bigger than this
    overlap: int = 32  # LR margin per tile side; ≥ the nets' receptive-field radius (seamless)
    backend: str = "eager"  # eager (torch) | onnx (ONNX Runtime, CPU, fp32; same outputs within 1e-4)

    def __post_init__(self):
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("backend", self.backend, BACKENDS)
        if self.backend == "onnx" and self.dtype != "fp32":
            raise ConfigError(f"dtype={self.dtype!r} is not valid with backend='onnx' (an fp32 graph); "
                              f"use dtype='fp32' or backend='eager'")
        check_range("max_pixels", self.max_pixels, 1, None)
        check_range("overlap", self.overlap, 0, None)
        check_range("tile", self.tile, 2 * self.overlap + 1, None)


@torch.inference_mode()
def enhance_batch(model, lr: torch.Tensor, vitals: torch.Tensor | None = None,
                  alpha: torch.Tensor | float | None = None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(sr clamped to [0, 1], α [B], α source)`` for a batch ``lr`` [B, C, h, w] on the model's device."""
    a, source = model.alpha_for(vitals, lr.shape[0], alpha)
    sr = model(lr, None, a).float().clamp_(0.0, 1.0)
    return sr, a, source


@dataclass
class EnhanceRequest:
    slices: np.ndarray  # float32 [N, C, H, W] in [0, 1]
    alpha: float  # from EnhancePipeline.alpha


class EnhancePipeline:
    def __init__(self, model: torch.nn.Module, chunk_slices: int = 16, options: InferenceOptions | None = None):
        self.options = options or InferenceOptions()
        self.model = model.eval()
        if self.options.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.chunk = max(1, int(chunk_slices))
        self._onnx = None
        if self.options.backend == "onnx":
            from medray.pipelines.onnx_backend import onnx_runner

            self._onnx = onnx_runner(self.model)  # exported once per model; pipelines on it share the session

    def _autocast(self):
        if self.options.dtype == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward(self, lr: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """SR of ``lr`` [B, C, H, W] (on the model's device) with per-sample α, tiled when it is big."""
        o = self.options

        def one(x: torch.Tensor) -> torch.Tensor:
            if self._onnx is not None:
                return self._onnx(x, alpha)
            if o.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                return enhance_batch(self.model, x, None, alpha)[0]

        return tiled(one, lr, self.scale, o.tile, o.overlap).contiguous()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def scale(self) -> int:
        return self.model.scale

    @property
    def in_channels(self) -> int:
        return self.model.in_channels

    def alpha(self, vitals: Sequence[float] | None, alpha: float | None = None) -> tuple[float, str]:
        """α and its source for one request: the explicit override, else the vitals (NaN = absent), else the default."""
        vit = None if vitals is None else torch.tensor([list(vitals)], dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            a, source = self.model.alpha_for(vit, 1, alpha)
        return float(a[0]), source

    def check(self, slices: np.ndarray, alpha: float | None) -> None:
        """Per-request checks, done before batching so one bad request never fails its batch-mates."""
        if slices.ndim != 4 or slices.shape[1] != self.in_channels:
            raise InputError("bad_channels", f"input slices {slices.shape} have the wrong channel count; the "
                             f"model takes {self.in_channels}")
        if alpha is not None and not 0.0 <= alpha <= self.model.alpha_max:
            raise InputError("bad_alpha", f"alpha={alpha} is out of range [0, {self.model.alpha_max}]")

    def run(self, requests: list[EnhanceRequest]) -> list[np.ndarray]:
        """Every slice of every request, grouped by shape so they share forwards, in chunks that bound memory."""
        s = self.scale
        outs = [np.empty((r.slices.shape[0], r.slices.shape[1], r.slices.shape[2] * s, r.slices.shape[3] * s),
                         np.float32) for r in requests]
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for ri, r in enumerate(requests):
            for si in range(r.slices.shape[0]):
                groups.setdefault(r.slices.shape[1:], []).append((ri, si))
        dev = self.device
        for shape, members in groups.items():
            # slices per forward: the chunk, and no more LR pixels than the budget (at least one slice)
            per = max(1, min(self.chunk, self.options.max_pixels // (shape[1] * shape[2])))
            for start in range(0, len(members), per):
                part = members[start: start + per]
                lr = torch.from_numpy(np.stack([requests[ri].slices[si] for ri, si in part])).to(dev)
                alpha = torch.tensor([requests[ri].alpha for ri, _ in part], dtype=torch.float32, device=dev)
                sr = self.forward(lr, alpha)
                for (ri, si), img in zip(part, sr.cpu().numpy()):
                    outs[ri][si] = img
        return outs

    def __call__(self, slices: np.ndarray, vitals: Sequence[float] | None = None,
                 alpha: float | None = None) -> tuple[np.ndarray, float, str]:
        """One request: ``(sr [N, C, H·s, W·s], α, source)``."""
        slices = np.ascontiguousarray(slices, dtype=np.float32)
        self.check(slices, alpha)
        a, source = self.alpha(vitals, alpha)
        return self.run([EnhanceRequest(slices, a)])[0], a, source


def upsample_classic(lr: torch.Tensor, scale: int, mode: str) -> torch.Tensor:
    """The classic baselines every SR figure sits beside: bicubic (no antialias, align_corners False) or
    nearest, clamped to [0, 1]."""
    import torch.nn.functional as F

    if mode == "bicubic":
        up = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False, antialias=False)
    else:
        up = F.interpolate(lr, scale_factor=scale, mode="nearest")
    return up.clamp(0, 1)
