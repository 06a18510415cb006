"""Adversarial losses: vanilla GAN (BCE with logits) and LSGAN (least squares on the raw score).

Both accept a hybrid ``DOutput`` — loss = w_patch · L(patch map) + w_global · L(global logit), so each
patch keeps its own gradient — or plain logits of any shape (e.g. the cGAN PatchGAN map).
"""
from __future__ import annotations

import enum

import torch
import torch.nn.functional as F

from medray.config import parse_enum
from medray.models.discriminator import DOutput


class AdvMode(enum.Enum):
    VANILLA = "vanilla"
    LSGAN = "lsgan"


def _loss(logits: torch.Tensor, target: float, mode: AdvMode) -> torch.Tensor:
    if mode is AdvMode.VANILLA:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))
    return F.mse_loss(logits, torch.full_like(logits, target))


def _against(out: DOutput | torch.Tensor, target: float, mode: AdvMode) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return _loss(out, target, mode)
    # a head with weight 0 still enters (×0) so its parameters get a zero gradient, not None (DDP-safe)
    total = out.mixed.sum() * 0.0
    if out.patch is not None:
        total = total + out.w_patch * _loss(out.patch, target, mode)
    if out.global_ is not None:
        total = total + out.w_global * _loss(out.global_, target, mode)
    return total


def d_loss(real_out: DOutput | torch.Tensor, fake_out: DOutput | torch.Tensor, mode: AdvMode | str = AdvMode.VANILLA) -> torch.Tensor:
    """Discriminator loss ½·(L(real, 1) + L(fake, 0)) as in pix2pix's ``backward_D``."""
    mode = parse_enum(AdvMode, "adv_mode", mode)
    return 0.5 * (_against(real_out, 1.0, mode) + _against(fake_out, 0.0, mode))


def g_adv_loss(fake_out: DOutput | torch.Tensor, mode: AdvMode | str = AdvMode.VANILLA) -> torch.Tensor:
    """Generator's adversarial loss: make D call the fakes real, L(fake, 1)."""
    return _against(fake_out, 1.0, parse_enum(AdvMode, "adv_mode", mode))
