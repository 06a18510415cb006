"""Exponential moving average (EMA) of the generator's weights, the copy that is validated and exported.

SR practice (ESRGAN, Real-ESRGAN, SwinIR) evaluates an EMA of G: it averages out the last steps' noise, which a
short CPU run and the GAN phase both have plenty of. The shadow is a full module (a deep copy of the bare G), so
validation and checkpoints use it exactly like G. ``decay`` warms up as ``min(decay, (1 + n) / (10 + n))``
(TensorFlow's ``ExponentialMovingAverage`` num_updates rule) so that a young average is not dominated by the
random init. Ray-free: the worker loop calls ``update`` after every G step.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from medray.config import check_range


class EMA:
    def __init__(self, model: nn.Module, decay: float = 0.999):
        check_range("ema_decay", decay, 0.0, 1.0)
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.num_updates = 0

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow ← d·shadow + (1 − d)·weights; buffers (none in these nets today) are copied as they are."""
        d = self.current_decay()
        for s, p in zip(self.module.parameters(), model.parameters()):
            s.lerp_(p.detach().to(s.device), 1.0 - d)
        for s, b in zip(self.module.buffers(), model.buffers()):
            s.copy_(b)
        self.num_updates += 1

    def to(self, device) -> "EMA":
        self.module.to(device)
        return self

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "state_dict": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["state_dict"])
        self.num_updates = int(state.get("num_updates", 0))
