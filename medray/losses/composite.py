"""IoT-GAN generator loss: L = λ_perc·L_perc + λ_ssim·(1 − SSIM) + λ_l1·L1 + λ_adv·L_adv.

The λ are the knobs the sweeps turn. ``perceptual`` must be chosen explicitly: "vgg19" needs a weights
file (``vgg19_weights`` or $MEDRAY_VGG19_WEIGHTS) and fails at construction without one; "none" drops
the term. The adversarial term is skipped when no discriminator output is given (e.g. L1/SSIM
pre-training of the generator).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from medray.config import check_choice, check_range, parse_enum
from medray.losses.adversarial import AdvMode, g_adv_loss
from medray.losses.perceptual import DEFAULT_LAYERS, LAYERS, PerceptualLoss
from medray.losses.pixel import l1_loss
from medray.losses.ssim import ssim_loss
from medray.models.discriminator import DOutput


@dataclasses.dataclass(frozen=True)
class GeneratorLossConfig:
    perceptual: str = "vgg19"  # "vgg19" | "none"
    vgg19_weights: str | None = None  # torchvision vgg19 state dict; falls back to $MEDRAY_VGG19_WEIGHTS
    perceptual_layers: tuple[str, ...] = DEFAULT_LAYERS
    w_perc: float = 0.1
    w_ssim: float = 1.0
    w_l1: float = 1.0
    w_adv: float = 1e-3
    adv_mode: AdvMode = AdvMode.VANILLA
    data_range: float = 1.0

    def __post_init__(self):
        check_choice("perceptual", self.perceptual, ["vgg19", "none"])
        if isinstance(self.perceptual_layers, list):
            object.__setattr__(self, "perceptual_layers", tuple(self.perceptual_layers))
        for name in self.perceptual_layers:
            check_choice("perceptual_layers", name, sorted(LAYERS))
        for name in ("w_perc", "w_ssim", "w_l1", "w_adv"):
            check_range(name, getattr(self, name), 0.0, 1e6)
        object.__setattr__(self, "adv_mode", parse_enum(AdvMode, "adv_mode", self.adv_mode))
        check_range("data_range", self.data_range, 1e-6, 1e6)


class GeneratorLoss(nn.Module):
    """``GeneratorLoss(cfg)(sr, hr, d_fake) -> (total, parts)``; parts are floats for logging."""

    def __init__(self, cfg: GeneratorLossConfig):
        super().__init__()
        self.cfg = cfg
        use_perc = cfg.perceptual == "vgg19" and cfg.w_perc > 0
        self.perceptual = PerceptualLoss(cfg.vgg19_weights, cfg.perceptual_layers) if use_perc else None

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, d_fake: DOutput | torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        terms: dict[str, torch.Tensor] = {
            "l1": l1_loss(sr, hr),
            "ssim": ssim_loss(sr, hr, cfg.data_range),
        }
        total = cfg.w_l1 * terms["l1"] + cfg.w_ssim * terms["ssim"]
        if self.perceptual is not None:
            terms["perc"] = self.perceptual(sr / cfg.data_range, hr / cfg.data_range)
            total = total + cfg.w_perc * terms["perc"]
        if d_fake is not None:
            terms["adv"] = g_adv_loss(d_fake, cfg.adv_mode)
            total = total + cfg.w_adv * terms["adv"]
        parts = {k: float(v.detach()) for k, v in terms.items()}
        parts["total"] = float(total.detach())
        return total, parts
