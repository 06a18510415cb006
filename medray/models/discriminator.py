"""Hybrid discriminator of IoT-GAN (paper A): a PatchGAN head and a global head on one shared trunk.

    trunk = PatchGAN feature stack (pix2pix NLayerDiscriminator without its last conv)
    patch head : Conv(trunk) → [B,1,h,w] per-patch realness logits
    global head: FC(Σ_positions trunk / N) → [B,1] logit        (σ is applied in the loss)
    mixed      : α · mean(patch) + β · global                   → [B]

The global head averages (Σ/N) rather than sums patch features so that one D works on 32×32,
64×64 and 256×256 crops alike. ``tie_beta`` sets β = 1 − α. Dropping a head (ablation) gives the
other head weight 1; the adversarial losses weight the per-head losses by ``DOutput.w_patch`` and
``DOutput.w_global``.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from medray.config import ConfigError, InputError, check_choice, check_range
from medray.models.options import check_bool, check_int


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    return nn.Identity()


def patch_trunk(in_channels: int, width: int, n_layers: int, norm: str) -> tuple[nn.Sequential, int]:
    """pix2pix NLayerDiscriminator minus its output conv: n_layers stride-2 convs + one stride-1 conv."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    ch = width
    for i in range(1, n_layers + 1):
        nxt = width * min(2**i, 8)
        stride = 2 if i < n_layers else 1
        layers += [nn.Conv2d(ch, nxt, 4, stride, 1, bias=norm == "none"), _norm(norm, nxt), nn.LeakyReLU(0.2, True)]
        ch = nxt
    return nn.Sequential(*layers), ch


def min_input_size(n_layers: int) -> int:
    """Smallest H/W the trunk + a k4/s1/p1 head accept: two k4/s1/p1 convs each take 1 off the size."""
    return 3 * 2**n_layers


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    in_channels: int = 1
    width: int = 64
    n_layers: int = 3  # 3 → 70×70 receptive field (pix2pix default); works on crops ≥ 24×24
    patch_head: bool = True
    global_head: bool = True
    alpha: float = 0.5  # weight of the patch head
    beta: float = 0.5  # weight of the global head (ignored when tie_beta)
    tie_beta: bool = False  # β = 1 − α
    norm: str = "batch"

    def __post_init__(self):
        check_int("in_channels", self.in_channels, 1, 16)
        check_int("width", self.width, 4, 512)
        check_int("n_layers", self.n_layers, 1, 6)
        for name in ("patch_head", "global_head", "tie_beta"):
            check_bool(name, getattr(self, name))
        if not (self.patch_head or self.global_head):
            raise ConfigError("patch_head=False and global_head=False: at least one head must stay on")
        check_range("alpha", self.alpha, 0.0, 1.0 if self.tie_beta else 100.0)
        check_range("beta", self.beta, 0.0, 100.0)
        check_choice("norm", self.norm, ["batch", "instance", "none"])

    def weights(self) -> tuple[float, float]:
        """(w_patch, w_global) actually used: β tied to 1 − α, and a dropped head's weight moved to the other."""
        if not self.global_head:
            return 1.0, 0.0
        if not self.patch_head:
            return 0.0, 1.0
        return float(self.alpha), float(1.0 - self.alpha if self.tie_beta else self.beta)


@dataclasses.dataclass
class DOutput:
    patch: torch.Tensor | None  # [B,1,h,w] logits
    global_: torch.Tensor | None  # [B,1] logits
    mixed: torch.Tensor  # [B] = w_patch · mean(patch) + w_global · global
    w_patch: float = 1.0
    w_global: float = 0.0


class HybridDiscriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        self.trunk, ch = patch_trunk(cfg.in_channels, cfg.width, cfg.n_layers, cfg.norm)
        self.patch = nn.Conv2d(ch, 1, 4, 1, 1) if cfg.patch_head else None
        self.global_fc = nn.Linear(ch, 1) if cfg.global_head else None
        self.w_patch, self.w_global = cfg.weights()

    def forward(self, x: torch.Tensor) -> DOutput:
        n = min_input_size(self.cfg.n_layers)
        if x.ndim != 4 or x.shape[1] != self.cfg.in_channels or min(x.shape[-2:]) < n:
            raise InputError("bad_shape", f"discriminator needs [B,{self.cfg.in_channels},H≥{n},W≥{n}], got {tuple(x.shape)}")
        feat = self.trunk(x)
        patch = self.patch(feat) if self.patch is not None else None
        glob = self.global_fc(feat.mean(dim=(2, 3))) if self.global_fc is not None else None
        mixed = torch.zeros(x.shape[0], device=x.device, dtype=feat.dtype)
        if patch is not None:
            mixed = mixed + self.w_patch * patch.mean(dim=(1, 2, 3))
        if glob is not None:
            mixed = mixed + self.w_global * glob[:, 0]
        return DOutput(patch=patch, global_=glob, mixed=mixed, w_patch=self.w_patch, w_global=self.w_global)


def build_discriminator(cfg: DiscriminatorConfig) -> HybridDiscriminator:
    if not isinstance(cfg, DiscriminatorConfig):
        raise ConfigError(f"build_discriminator needs a DiscriminatorConfig, got {type(cfg).__name__}")
    return HybridDiscriminator(cfg)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN (pix2pix): logits [B,1,h,w] for concat(condition, image)."""

    def __init__(self, cond_channels: int, image_channels: int, width: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        self.in_channels = cond_channels + image_channels
        self.n_layers = n_layers
        trunk, ch = patch_trunk(self.in_channels, width, n_layers, norm)
        self.net = nn.Sequential(*trunk, nn.Conv2d(ch, 1, 4, 1, 1))

    def forward(self, cond: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = torch.cat([cond, image], dim=1)
        n = min_input_size(self.n_layers)
        if x.shape[1] != self.in_channels or min(x.shape[-2:]) < n:
            raise InputError("bad_shape", f"cGAN discriminator needs {self.in_channels} channels and H,W ≥ {n}, got {tuple(x.shape)}")
        return self.net(x)
