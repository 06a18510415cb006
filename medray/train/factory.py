"""Explicit builders from a TrainConfig: generator, discriminator, optimizers and generator loss for each
model kind. The worker loop, evaluation and the overhead benchmark share them so they build the same nets."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from medray.config import from_dict, to_dict
from medray.train.options import TrainConfig


@dataclass
class GanParts:
    G: nn.Module
    D: nn.Module
    g_config: dict  # saved in the checkpoint (models' own config dataclass as a dict)
    d_config: dict
    adv_mode: object
    loss: object  # SR: GeneratorLoss module; cGAN: PixMedLossConfig (BCE + (1 − SSIM))
    kind: str  # checkpoint kind: "iotgan" | "pixmed"


def build_gan(cfg: TrainConfig) -> GanParts:
    """G and D on CPU with weights seeded by cfg.seed (every worker builds the same init)."""
    torch.manual_seed(cfg.seed)
    if cfg.model == "iotgan":
        from medray.losses.composite import GeneratorLoss, GeneratorLossConfig
        from medray.models.discriminator import DiscriminatorConfig, build_discriminator
        from medray.models.sr_generator import SRGeneratorConfig, build_generator

        g_cfg = from_dict(SRGeneratorConfig, {**cfg.generator, "in_channels": cfg.n_channels, "scale": cfg.scale},
                          where="generator")
        d_cfg = from_dict(DiscriminatorConfig, {**cfg.discriminator, "in_channels": cfg.n_channels},
                          where="discriminator")
        # no VGG19 weights ship with medray (nothing downloads at run time): perceptual is opt-in
        loss_cfg = from_dict(GeneratorLossConfig, {"perceptual": "none", **cfg.loss}, where="loss")
        return GanParts(build_generator(g_cfg), build_discriminator(d_cfg), to_dict(g_cfg), to_dict(d_cfg),
                        loss_cfg.adv_mode, GeneratorLoss(loss_cfg), "iotgan")
    from medray.losses.pixmed import PixMedLossConfig
    from medray.models.cgan import CGANConfig, build_cgan_discriminator, build_cgan_generator

    # a U-Net with n downsamplings needs inputs that are multiples of 2^n: fit the default to the crop
    n_downs = cfg.generator.get("n_downs", min(8, int(math.log2(cfg.patch & -cfg.patch))))
    c_cfg = from_dict(CGANConfig, {**cfg.generator, "out_channels": cfg.n_channels, "n_downs": n_downs},
                      where="generator")
    loss_cfg = from_dict(PixMedLossConfig, cfg.loss, where="loss")
    return GanParts(build_cgan_generator(c_cfg), build_cgan_discriminator(c_cfg), to_dict(c_cfg), to_dict(c_cfg),
                    loss_cfg.adv_mode, loss_cfg, "pixmed")


def build_optimizers(cfg: TrainConfig, G: nn.Module, D: nn.Module):
    """Adam(lr, β1=0.5) for both nets, as in pix2pix and the paper."""
    betas = (cfg.beta1, cfg.beta2)
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=betas),
            torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=betas))


def mask_channels(parts: GanParts) -> int:
    return int(parts.g_config.get("mask_channels", 4))
