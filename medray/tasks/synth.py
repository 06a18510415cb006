"""Synthesis kinds: label map → image. Served by medray/pipelines/synthesize.py."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from medray.config import from_dict, to_dict
from medray.data.augment import NO_AUGMENT, AugmentConfig
from medray.losses.pixmed import PixMedLossConfig
from medray.models.cgan import CGANConfig, build_cgan_discriminator, build_cgan_generator, encode_mask
from medray.pipelines.synthesize import synthesize_batch
from medray.tasks.base import Task, unet_downs
from medray.train.step import cgan_train_step

EVAL_METRICS = ("psnr", "psnr_fg", "ssim", "ssim_fg")


@dataclass(frozen=True)
class SynthRecipe:
    """A PixMed training recipe (``medray train --model pixmed --preset NAME``): TrainConfig values and the
    generator/loss sections. YAML and flags override it (medray/train/presets.py)."""

    train: dict
    generator: dict = field(default_factory=dict)
    loss: dict = field(default_factory=dict)
    augmentation: AugmentConfig = NO_AUGMENT

    def overrides(self) -> dict:
        aug = {k: list(v) if isinstance(v, tuple) else v for k, v in to_dict(self.augmentation).items()}
        return {**self.train, "augment": True, "augmentation": aug, "generator": dict(self.generator),
                "loss": dict(self.loss)}


# pix2pix's "resize to 286, random crop 256" on a 256² slice: a fixed zoom of 286/256 and a shift of up to
# ±15 px (the crop offset 0..30 around the centre), plus pix2pix's horizontal/vertical flip.
PIX2PIX_JITTER = AugmentConfig(rotation_deg=0.0, scale_range=(286 / 256, 286 / 256), translate_frac=15 / 256,
                               flip=True, gamma_range=(1.0, 1.0), contrast_range=(1.0, 1.0), brightness=0.0)
# Intensities are never jittered for synthesis: the target's contrast is what the generator must learn.
MILD_GEOMETRY = AugmentConfig(rotation_deg=8.0, scale_range=(0.95, 1.12), translate_frac=0.05, flip=True,
                              gamma_range=(1.0, 1.0), contrast_range=(1.0, 1.0), brightness=0.0)

SYNTH_PRESETS = {
    # paper B as stated: Adam 1e-3 (β1 0.5), batch 64, 400 epochs, no early stopping, 286 → random 256 crop,
    # ghost modules in the encoder only, U-Net-256 (ngf 64, 8 downsamplings), loss BCE + (1 − SSIM)
    "paper": SynthRecipe(
        train={"lr": 1e-3, "beta1": 0.5, "batch_size": 64, "max_epochs": 400, "patience": 0, "patch": 256,
               "warmup_epochs": 0, "ema_decay": 0.0, "lr_patience": 0},
        generator={"width": 64, "n_downs": 8, "use_ghost": True, "ghost_decoder": False},
        loss={"w_adv": 1.0, "w_ssim": 1.0, "w_l1": 0.0}, augmentation=PIX2PIX_JITTER),
    # medray's CPU recipe (the shipped weights: medray/weights/PROVENANCE.json records the exact run): 128² crops
    # of 1-channel T1 slices, width 16 (PatchGAN 32), one worker, 3 epochs of SSIM + L1 before the adversarial term, pix2pix's
    # L1 (weight 5) beside the paper's loss, an EMA of G, no early stopping
    "fast": SynthRecipe(
        train={"lr": 2e-4, "beta1": 0.5, "batch_size": 8, "max_epochs": 400, "patience": 0, "patch": 128,
               "warmup_epochs": 3, "ema_decay": 0.995, "lr_patience": 0, "num_workers": 1, "n_channels": 1,
               "val_max_slices": 32},
        generator={"width": 16, "d_width": 32, "use_ghost": True, "ghost_decoder": False},
        loss={"w_adv": 1.0, "w_ssim": 1.0, "w_l1": 5.0}, augmentation=MILD_GEOMETRY),
}


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
        g = parts.g_config
        cond = encode_mask(batch["mask"], int(g["mask_channels"]), g["condition"]).to(batch["hr"].device)
        return cgan_train_step(parts.G, parts.D, opt_g, opt_d, cond, batch["hr"], parts.loss, amp,
                               adversarial=adversarial)

    def predict(self, G, batch: dict, device) -> torch.Tensor:
        return synthesize_batch(G, batch["mask"])

    def config_from_dict(self, data: dict):
        # checkpoints from before the anatomy condition were tumour-conditioned (one-hot 0/1/2/4)
        data = {"condition": "tumour", **data}
        return from_dict(self.generator, data, where=f"{self.name} checkpoint config")

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
        generator_defaults={}, presets=SYNTH_PRESETS,
        description="PixMed (paper B): GhostNet-module U-Net cGAN, label map (anatomy + tumour) → brain MRI"),
}
