"""PixMed-Enhancer generator loss (paper B): L_G = λ_adv · BCE_adv + λ_ssim · (1 − SSIM) [+ λ_l1 · L1].

The paper's loss is the first two terms with weight 1; ``w_l1`` (default 0) brings back pix2pix's L1
term for comparison.
"""
from __future__ import annotations

import dataclasses

import torch

from medray.config import check_range, parse_enum
from medray.losses.adversarial import AdvMode, g_adv_loss
from medray.losses.pixel import l1_loss
from medray.losses.ssim import ssim_loss


@dataclasses.dataclass(frozen=True)
class PixMedLossConfig:
    w_adv: float = 1.0
    w_ssim: float = 1.0
    w_l1: float = 0.0
    adv_mode: AdvMode = AdvMode.VANILLA  # the paper: BCE

    def __post_init__(self):
        for name in ("w_adv", "w_ssim", "w_l1"):
            check_range(name, getattr(self, name), 0.0, 1e6)
        object.__setattr__(self, "adv_mode", parse_enum(AdvMode, "adv_mode", self.adv_mode))


def pixmed_generator_loss(d_fake: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                          cfg: PixMedLossConfig = PixMedLossConfig()) -> tuple[torch.Tensor, dict[str, float]]:
    """``d_fake`` = D(mask, fake) logits; images in [0,1]. Returns (total, parts as floats)."""
    terms = {"adv": g_adv_loss(d_fake, cfg.adv_mode), "ssim": ssim_loss(fake, real, 1.0)}
    total = cfg.w_adv * terms["adv"] + cfg.w_ssim * terms["ssim"]
    if cfg.w_l1 > 0:
        terms["l1"] = l1_loss(fake, real)
        total = total + cfg.w_l1 * terms["l1"]
    parts = {k: float(v.detach()) for k, v in terms.items()}
    parts["total"] = float(total.detach())
    return total, parts
