"""IoT-GAN super-resolution generator (paper A), built from ``SRGeneratorConfig`` by ``build_generator``.

    lr ─ head ─┬─ depth × [multi-scale fusion → residual attention] ─ vitals-adaptive(α) ─(+)─ upsampler ─ tail ─(+)─ sr
               └──────────────────────── long skip ────────────────────────────────────┘            bicubic(lr) ┘

The output adds a global residual over bicubic upsampling, so the network only learns the missing
detail. Ablation switches swap a block for its plain counterpart:
``residual_attention`` → ResidualConv, ``multiscale`` → one 3×3 conv, ``upsampling=False`` → bicubic
pre-upsampling with the whole body at HR resolution, ``vitals_adaptive=False`` → no α block at all.
Input is [B,C,h,w] in [0,1]; the output is not clamped (clamping would stop gradients), callers that
display it clamp to [0,1].
"""
from __future__ import annotations

import dataclasses
import logging

import torch
import torch.nn.functional as F
from torch import nn

from medray.config import ConfigError, InputError, check_choice, check_range
from medray.models.blocks import (
    MultiScaleFusion,
    ResidualAttention,
    ResidualConv,
    SingleScaleConv,
    TransposedUpsampler,
    conv,
)
from medray.models.options import check_bool, check_int
from medray.models.sr_protocol import SRModel
from medray.models.vitals_adaptive import VITALS_ORDER, AlphaNet, VitalsAdaptiveBlock

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SRGeneratorConfig:
    in_channels: int = 1  # 1 = CT / one MRI modality, 4 = T1/T1ce/T2/FLAIR
    scale: int = 2
    width: int = 32  # CPU-friendly default; the paper-like setting is width 64, depth 8
    depth: int = 4
    kernel_sizes: tuple[int, ...] = (3, 5, 7)
    residual_attention: bool = True
    multiscale: bool = True
    upsampling: bool = True
    vitals_adaptive: bool = True
    alpha_default: float = 0.5  # α when vitals are absent
    alpha_max: float = 1.0  # α = alpha_max · σ(MLP(vitals))

    def __post_init__(self):
        check_choice("in_channels", self.in_channels, [1, 4])
        check_choice("scale", self.scale, [2, 4])
        check_int("width", self.width, 4, 512)
        check_int("depth", self.depth, 1, 64)
        ks = self.kernel_sizes
        if isinstance(ks, list):
            object.__setattr__(self, "kernel_sizes", tuple(ks))
            ks = self.kernel_sizes
        if not isinstance(ks, tuple) or not ks or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0 or k > 15 for k in ks
        ):
            raise ConfigError(f"kernel_sizes={ks!r} is not valid; give a non-empty list of odd sizes in 1..15, e.g. [3, 5, 7]")
        for name in ("residual_attention", "multiscale", "upsampling", "vitals_adaptive"):
            check_bool(name, getattr(self, name))
        check_range("alpha_max", self.alpha_max, 1e-6, 100.0)
        check_range("alpha_default", self.alpha_default, 0.0, self.alpha_max)


class SRGenerator(SRModel):
    def __init__(self, cfg: SRGeneratorConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.head = conv(cfg.in_channels, w)
        stages = []
        for _ in range(cfg.depth):
            stages.append(MultiScaleFusion(w, cfg.kernel_sizes) if cfg.multiscale else SingleScaleConv(w))
            stages.append(ResidualAttention(w) if cfg.residual_attention else ResidualConv(w))
        self.body = nn.Sequential(*stages)
        if cfg.vitals_adaptive:
            self.alpha_net = AlphaNet(cfg.alpha_max)
            self.adaptive = VitalsAdaptiveBlock(w)
        self.upsampler = TransposedUpsampler(w, cfg.scale) if cfg.upsampling else nn.Identity()
        self.tail = conv(w, cfg.in_channels)
        self._warned_default = False

    # -- the SR model protocol the enhance pipeline relies on (medray/tasks/sr.py) ------------------------
    @property
    def alpha_max(self) -> float:
        return self.cfg.alpha_max

    @property
    def alpha_default(self) -> float:
        return self.cfg.alpha_default

    # -- α -------------------------------------------------------------------------------------------
    def alpha_for(self, vitals: torch.Tensor | None = None, batch_size: int = 1,
                  alpha: torch.Tensor | float | None = None) -> tuple[torch.Tensor, str]:
        """``(α [B], source)`` for a batch: the α ``forward`` uses and where it came from ("explicit",
        "vitals", "mixed", "default" or "disabled"). Nothing is stored on the model, so concurrent callers
        cannot see each other's source.

        ``alpha`` (explicit override) wins over ``vitals``; rows of ``vitals`` with any NaN get
        ``alpha_default``. With ``vitals_adaptive=False`` α is unused and reported as the default.
        """
        cfg = self.cfg
        device = self.head.weight.device
        if alpha is not None:
            a = torch.as_tensor(alpha, dtype=torch.float32, device=device)
            a = a.expand(batch_size).clone() if a.ndim == 0 else a.reshape(-1)
            if a.shape[0] != batch_size:
                raise InputError("bad_alpha", f"alpha has {a.shape[0]} values for a batch of {batch_size}")
            if not torch.isfinite(a).all() or (a < 0).any() or (a > cfg.alpha_max).any():
                raise InputError("bad_alpha", f"alpha must be finite and in [0, {cfg.alpha_max}]")
            return a, "explicit" if cfg.vitals_adaptive else "disabled"
        default = torch.full((batch_size,), cfg.alpha_default, device=device)
        if not cfg.vitals_adaptive:
            return default, "disabled"
        if vitals is None:
            self._note_default("no vitals given")
            return default, "default"
        v = torch.as_tensor(vitals, dtype=torch.float32, device=device)
        if v.ndim == 1:
            v = v.unsqueeze(0)
        if v.shape != (batch_size, len(VITALS_ORDER)):
            raise InputError("bad_vitals", f"vitals must be [B={batch_size}, 4] in order {VITALS_ORDER}, got {tuple(v.shape)}")
        present = torch.isfinite(v).all(dim=1)
        if not present.any():
            self._note_default("vitals absent (NaN)")
            return default, "default"
        a = self.alpha_net(torch.where(present[:, None], v, torch.zeros_like(v)))
        if not present.all():
            self._note_default("vitals absent (NaN) for part of the batch")
            return torch.where(present, a, default), "mixed"
        return a, "vitals"

    def _note_default(self, why: str) -> None:
        if not self._warned_default:  # once per model: serving calls this for every request
            log.info("IoT-GAN: %s; using alpha_default=%s", why, self.cfg.alpha_default)
            self._warned_default = True

    # -- forward -------------------------------------------------------------------------------------
    def forward(self, lr: torch.Tensor, vitals: torch.Tensor | None = None,
                alpha: torch.Tensor | float | None = None) -> torch.Tensor:
        cfg = self.cfg
        if lr.ndim != 4 or lr.shape[1] != cfg.in_channels:
            raise InputError("bad_shape", f"expected [B,{cfg.in_channels},h,w], got {tuple(lr.shape)}")
        base = F.interpolate(lr, scale_factor=cfg.scale, mode="bicubic", align_corners=False)
        x = self.head(lr if cfg.upsampling else base)
        feat = self.body(x)
        a, source = self.alpha_for(vitals, lr.shape[0], alpha)
        if cfg.vitals_adaptive:
            if self.training and source in ("default", "explicit"):
                # the α MLP took no part: enter it ×0 so its weights get zero gradients, not None, and DDP
                # needs no find_unused_parameters
                a = a + 0.0 * self.alpha_net(torch.zeros(1, len(VITALS_ORDER), device=a.device)).sum()
            feat = self.adaptive(feat, a)
        feat = self.upsampler(feat + x)
        return self.tail(feat) + base


def build_generator(cfg: SRGeneratorConfig) -> SRGenerator:
    """The IoT-GAN generator for ``cfg`` (a validated ``SRGeneratorConfig``)."""
    if not isinstance(cfg, SRGeneratorConfig):
        raise ConfigError(f"build_generator needs an SRGeneratorConfig, got {type(cfg).__name__}")
    return SRGenerator(cfg)
