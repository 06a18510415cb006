"""Super-resolution kinds: LR slice (+ vitals) → HR slice. Served by medray/pipelines/enhance.py.

The SR model protocol every kind here speaks (the enhance pipeline relies on nothing else):
``scale``, ``in_channels``, ``alpha_max``, ``alpha_default``; ``alpha_for(vitals, B, alpha) -> (α [B], source)``
with source one of explicit | vitals | mixed | default | disabled; ``forward(lr, vitals=None, alpha=None)``
returning unclamped [B, C, h·s, w·s].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from medray.config import from_dict
from medray.losses.composite import GeneratorLoss, GeneratorLossConfig
from medray.models.discriminator import DiscriminatorConfig, build_discriminator
from medray.models.sr_baseline import BaselineSRConfig, build_baseline
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from medray.pipelines.enhance import enhance_batch, upsample_classic
from medray.tasks.base import Task
from medray.train.step import sr_train_step

EVAL_METRICS = ("psnr", "psnr_fg", "ssim", "ssim_fg", "ncc", "mi", "sf", "mg")


@dataclass(frozen=True)
class SRTask(Task):
    family: str = "sr"

    def generator_config(self, cfg):
        data = {**(self.generator_defaults or {}), **cfg.generator, "in_channels": cfg.n_channels, "scale": cfg.scale}
        return from_dict(self.generator, data, where="generator")

    def discriminator_config(self, cfg, g_cfg):
        return from_dict(self.discriminator, {**cfg.discriminator, "in_channels": cfg.n_channels},
                         where="discriminator")

    def build_loss(self, loss_cfg):
        return GeneratorLoss(loss_cfg)

    # -- data -------------------------------------------------------------------------------------
    def data_scale(self, cfg) -> int:
        """The LR scale a run reads from the shards (crops are aligned to it)."""
        return cfg.scale

    needs_mask = False  # every slice row serves, with or without a label map

    def selection(self, cfg) -> dict:
        return {"scale": cfg.scale, "require_mask": self.needs_mask}

    def model_channels(self, g_cfg) -> int:
        return g_cfg.in_channels

    def model_scale(self, g_cfg) -> int:
        return g_cfg.scale

    # -- training ---------------------------------------------------------------------------------
    def train_step(self, parts, opt_g, opt_d, batch: dict, amp, adversarial: bool) -> dict:
        return sr_train_step(parts.G, parts.D, opt_g, opt_d, batch, parts.loss, parts.adv_mode, amp,
                             adversarial=adversarial and parts.D is not None)

    def predict(self, G, batch: dict, device) -> torch.Tensor:
        """Validation forward: the enhance pipeline on whole LR slices with each slice's vitals."""
        return enhance_batch(G, batch["lr"].to(device), batch["vitals"].to(device))[0]

    # -- evaluation -------------------------------------------------------------------------------
    eval_metrics = EVAL_METRICS

    def eval_outputs(self, G, batch: dict, g_cfg, replicate: bool = False) -> dict[str, torch.Tensor]:
        """The checkpoint ("medray") beside the classic upsamplers on the same LR input."""
        lr = batch["lr"]
        if replicate:  # a multi-channel model probed on one-channel scans: copy in, average out
            sr = enhance_batch(G, lr.expand(-1, g_cfg.in_channels, -1, -1), batch["vitals"])[0].mean(1, keepdim=True)
        else:
            sr = enhance_batch(G, lr, batch["vitals"])[0]
        return {"medray": sr, "bicubic": upsample_classic(lr, g_cfg.scale, "bicubic"),
                "nearest": upsample_classic(lr, g_cfg.scale, "nearest")}

    def grid(self, ex: dict) -> list[tuple[str, np.ndarray]]:
        return [("LR", ex["lr"][0]), ("bicubic", ex["bicubic"][0]), ("medray", ex["medray"][0]), ("HR", ex["hr"][0]),
                ("|medray − HR|", np.abs(ex["medray"][0] - ex["hr"][0]))]


NO_VGG = {"perceptual": "none"}  # no VGG19 weights ship with medray (nothing downloads): perceptual is opt-in

SR_KINDS = {
    "iotgan": SRTask(
        name="iotgan", generator=SRGeneratorConfig, build_generator=build_generator, loss=GeneratorLossConfig,
        discriminator=DiscriminatorConfig, build_discriminator=build_discriminator, loss_defaults=NO_VGG,
        description="IoT-GAN (paper A): vitals-adaptive SR generator, hybrid PatchGAN + global discriminator"),
    "baseline": SRTask(
        name="baseline", generator=BaselineSRConfig, build_generator=build_baseline, loss=GeneratorLossConfig,
        loss_defaults={**NO_VGG, "w_perc": 0.0, "w_ssim": 0.0, "w_adv": 0.0, "w_l1": 1.0},
        description="plain EDSR-baseline-like residual CNN, L1 only, no discriminator, no vitals"),
}
