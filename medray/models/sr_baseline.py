"""The plain super-resolution baseline every IoT-GAN claim is measured against: an EDSR-baseline-like
residual CNN (Lim et al. 2017: conv head, residual blocks without batch norm, scaled residuals, sub-pixel
upsampling, conv tail) trained with L1 only: no discriminator, no attention, no multi-scale fusion, no vitals.

    lr ─ head ─┬─ depth × [conv → ReLU → conv, ×res_scale (+)] ─ conv ─(+)─ pixel shuffle ─ tail ─(+)─ sr
               └────────────────────── long skip ──────────────────────┘            bicubic(lr) ┘

Like the IoT-GAN generator it adds a global residual over bicubic upsampling (EDSR does not; on a CPU budget
it makes both nets learn only the missing detail, so the comparison is about the body, not the start).
It speaks the SR model protocol of medray/tasks/sr.py: ``forward(lr, vitals=None, alpha=None)`` and
``alpha_for`` (always "disabled": vitals never change its output).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from medray.config import ConfigError, InputError, check_choice, check_range
from medray.models.blocks import conv
from medray.models.options import check_int
from medray.models.sr_protocol import SRModel


@dataclasses.dataclass(frozen=True)
class BaselineSRConfig:
    in_channels: int = 1
    scale: int = 2
    width: int = 32  # EDSR-baseline: 64
    depth: int = 8  # EDSR-baseline: 16 residual blocks
    res_scale: float = 1.0  # EDSR scales residuals by 0.1 only in its wide model

    def __post_init__(self):
        check_choice("in_channels", self.in_channels, [1, 4])
        check_choice("scale", self.scale, [2, 4])
        check_int("width", self.width, 4, 512)
        check_int("depth", self.depth, 1, 64)
        check_range("res_scale", self.res_scale, 1e-3, 1.0)


class _ResBlock(nn.Module):
    def __init__(self, width: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(conv(width, width), nn.ReLU(inplace=True), conv(width, width))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class BaselineSR(SRModel):
    alpha_default = 0.0  # reported α: the model has no adaptive block
    alpha_max = 1.0  # explicit α is accepted (like IoT-GAN with vitals_adaptive off) and ignored

    def __init__(self, cfg: BaselineSRConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.head = conv(cfg.in_channels, w)
        self.body = nn.Sequential(*[_ResBlock(w, cfg.res_scale) for _ in range(cfg.depth)], conv(w, w))
        ups: list[nn.Module] = []
        for _ in range({2: 1, 4: 2}[cfg.scale]):  # ×4 = two ×2 sub-pixel stages, as EDSR does
            ups += [conv(w, 4 * w), nn.PixelShuffle(2)]
        self.upsampler = nn.Sequential(*ups)
        self.tail = conv(w, cfg.in_channels)

    def alpha_for(self, vitals=None, batch_size: int = 1, alpha=None) -> tuple[torch.Tensor, str]:
        return torch.full((batch_size,), self.alpha_default, device=self.head.weight.device), "disabled"

    def forward(self, lr: torch.Tensor, vitals: torch.Tensor | None = None, alpha=None) -> torch.Tensor:
        if lr.ndim != 4 or lr.shape[1] != self.cfg.in_channels:
            raise InputError("bad_shape", f"expected [B,{self.cfg.in_channels},h,w], got {tuple(lr.shape)}")
        base = F.interpolate(lr, scale_factor=self.cfg.scale, mode="bicubic", align_corners=False)
        x = self.head(lr)
        return self.tail(self.upsampler(self.body(x) + x)) + base


def build_baseline(cfg: BaselineSRConfig) -> BaselineSR:
    if not isinstance(cfg, BaselineSRConfig):
        raise ConfigError(f"build_baseline needs a BaselineSRConfig, got {type(cfg).__name__}")
    return BaselineSR(cfg)
