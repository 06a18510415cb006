"""Synthesis kinds: label map → image. Served by medray/pipelines/synthesize.py."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from medray.config import from_dict
from medray.losses.pixmed import PixMedLossConfig
from medray.models.cgan import CGANConfig, build_cgan_discriminator, build_cgan_generator, encode_mask
from medray.pipelines.synthesize import synthesize_batch
from medray.tasks.base import Task, unet_downs
from medray.train.step import cgan_train_step

EVAL_METRICS = ("psnr", "psnr_fg", "ssim", "ssim_fg")


@dataclass(frozen=True)
class SynthTask(Task):
    family: str = "synth"

    def sections(self) -> dict:
        # the PatchGAN's options live in the generator's CGANConfig (d_width, d_layers): no section of its own
        return {"generator": self.generator, "discriminator": None, "loss": self.loss}

    def generator_config(self, cfg):
        gen = {**(self.generator_defaults or {}), **cfg.generator}
        data = {**gen, "out_channels": cfg.n_channels, "n_downs": gen.get("n_downs", unet_downs(cfg.patch))}
        return from_dict(self.generator, data, where="generator")

    def discriminator_config(self, cfg, g_cfg):
        return g_cfg

    # -- data -------------------------------------------------------------------------------------
    def data_scale(self, cfg) -> None:
        return None  # no LR input

    needs_mask = True  # only rows with a label map can condition the generator

    def selection(self, cfg) -> dict:
        return {"scale": None, "require_mask": self.needs_mask}

    def model_channels(self, g_cfg) -> int:
        return g_cfg.out_channels

    def model_scale(self, g_cfg) -> None:
        return None

    # -- training ---------------------------------------------------------------------------------
    def train_step(self, parts, opt_g, opt_d, batch: dict, amp, adversarial: bool) -> dict:
        k = int(parts.g_config["mask_channels"])
        cond = encode_mask(batch["mask"], k).to(batch["hr"].device)
        return cgan_train_step(parts.G, parts.D, opt_g, opt_d, cond, batch["hr"], parts.loss, amp,
                               adversarial=adversarial)

    def predict(self, G, batch: dict, device) -> torch.Tensor:
        return synthesize_batch(G, batch["mask"])

    def untrained(self):
        """Small (width 16, 5 downsamplings) so development serving starts fast; still seeded."""
        torch.manual_seed(0)
        cfg = self.generator(width=16, n_downs=5)
        return self.build_generator(cfg), cfg

    # -- evaluation -------------------------------------------------------------------------------
    eval_metrics = EVAL_METRICS

    def eval_outputs(self, G, batch: dict, g_cfg, replicate: bool = False) -> dict[str, torch.Tensor]:
        return {self.name: synthesize_batch(G, batch["mask"])}

    def grid(self, ex: dict) -> list[tuple[str, np.ndarray]]:
        fake = ex[self.name][0]
        return [("mask", ex["mask"]), ("generated", fake), ("real", ex["hr"][0]),
                ("|generated − real|", np.abs(fake - ex["hr"][0]))]


SYNTH_KINDS = {
    "pixmed": SynthTask(
        name="pixmed", generator=CGANConfig, build_generator=build_cgan_generator, loss=PixMedLossConfig,
        discriminator=CGANConfig, build_discriminator=build_cgan_discriminator,
        generator_defaults={},
        description="PixMed (paper B): GhostNet-module U-Net cGAN, label map → brain MRI"),
}
