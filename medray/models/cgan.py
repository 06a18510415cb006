"""PixMed-Enhancer cGAN (paper B): mask → image U-Net generator with GhostNet ghost modules, and a
PatchGAN discriminator on concat(mask, image).

The generator follows pix2pix's ``UnetGenerator`` (pytorch-CycleGAN-and-pix2pix, networks.py) layer for
layer, written as explicit encoder/decoder lists instead of nested blocks:

    down i : [LReLU] Conv4/s2 → [BN]        channels ngf·min(2^i, 8); no act at i=0, no BN at i=0 and innermost
    up   i : ReLU ConvT4/s2 → [BN] [Dropout] input = cat(skip, previous up); dropout on the middle 8·ngf levels

``use_ghost=True`` replaces every strided conv of the encoder (the paper's placement; with ``ghost_decoder``,
medray's option, every transposed conv of the decoder except the output one too) by a ghost module; ``use_ghost=False`` is the plain
pix2pix U-Net-256 baseline (n_downs 8, ngf 64). The output passes a sigmoid so images are in [0,1]
like the rest of medray (pix2pix uses tanh to [−1,1]; same shape, rescaled).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from medray.config import ConfigError, InputError, check_choice
from medray.models.discriminator import PatchDiscriminator
from medray.models.ghost import GhostModule
from medray.models.options import check_bool, check_int

BRATS_LABELS = (0, 1, 2, 4)  # background, necrotic core, oedema, enhancing tumour
TISSUE_LABELS = (10, 11, 12)  # CSF, grey matter, white matter (DESIGN.md label values)
ANATOMY_LABELS = (0, 10, 11, 12, 1, 2, 4)  # one-hot order of condition "anatomy"
VALID_LABELS = tuple(sorted(ANATOMY_LABELS))  # every label a map may hold, in either mode
TUMOUR_LABELS = (1, 2, 4)
CONDITIONS = ("anatomy", "tumour")
# condition → the mask_channels it allows; the first is the default
CONDITION_CHANNELS = {"anatomy": (7,), "tumour": (4, 3, 1)}


@dataclasses.dataclass(frozen=True)
class CGANConfig:
    # "anatomy": one-hot over 0/CSF/GM/WM/1/2/4 (7 channels) — the healthy brain gives the U-Net its spatial cue;
    # "tumour": the paper's tumour-only mask, tissue labels read as background (4, 3 or 1 channels, encode_mask)
    condition: str = "anatomy"
    mask_channels: int | None = None  # None → the condition's default (anatomy 7, tumour 4)
    out_channels: int = 1
    width: int = 64  # ngf (pix2pix default)
    use_ghost: bool = True
    ghost_ratio: int = 2
    ghost_decoder: bool = False  # paper: ghost modules in the encoder only; True = medray's ghost decoder too
    n_downs: int = 8  # 8 → U-Net-256: inputs must be multiples of 2^n_downs
    dropout: bool = True
    norm: str = "batch"
    d_width: int = 64
    d_layers: int = 3

    def __post_init__(self):
        check_choice("condition", self.condition, list(CONDITIONS))
        if self.mask_channels is None:
            object.__setattr__(self, "mask_channels", CONDITION_CHANNELS[self.condition][0])
        check_choice("mask_channels", self.mask_channels, list(CONDITION_CHANNELS[self.condition]))
        check_int("out_channels", self.out_channels, 1, 4)
        check_int("width", self.width, 4, 256)
        check_bool("use_ghost", self.use_ghost)
        check_int("ghost_ratio", self.ghost_ratio, 2, 8)
        check_bool("ghost_decoder", self.ghost_decoder)
        check_int("n_downs", self.n_downs, 3, 9)
        check_bool("dropout", self.dropout)
        check_choice("norm", self.norm, ["batch", "instance"])
        check_int("d_width", self.d_width, 4, 512)
        check_int("d_layers", self.d_layers, 1, 6)


def _norm(kind: str, ch: int) -> nn.Module:
    return nn.BatchNorm2d(ch) if kind == "batch" else nn.InstanceNorm2d(ch, affine=True)


class UNetGenerator(nn.Module):
    def __init__(self, cfg: CGANConfig):
        super().__init__()
        self.cfg = cfg
        n, ngf = cfg.n_downs, cfg.width
        ch = [ngf * min(2**i, 8) for i in range(n)]
        bias = cfg.norm == "instance"  # pix2pix: no conv bias before BatchNorm

        def down_conv(cin, cout):
            if cfg.use_ghost:
                return GhostModule(cin, cout, cfg.ghost_ratio, bias=bias)
            return nn.Conv2d(cin, cout, 4, 2, 1, bias=bias)

        def up_conv(cin, cout):
            if cfg.use_ghost and cfg.ghost_decoder:
                return GhostModule(cin, cout, cfg.ghost_ratio, transposed=True, bias=bias)
            return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)

        self.downs = nn.ModuleList()
        for i in range(n):
            cin = cfg.mask_channels if i == 0 else ch[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(down_conv(cin, ch[i]))
            if 0 < i < n - 1:
                layers.append(_norm(cfg.norm, ch[i]))
            self.downs.append(nn.Sequential(*layers))

        self.ups = nn.ModuleList()  # ups[i] maps level i+1's features back to level i's resolution
        for i in range(n - 1, 0, -1):
            cin = ch[i] if i == n - 1 else 2 * ch[i]
            layers = [nn.ReLU(True), up_conv(cin, ch[i - 1]), _norm(cfg.norm, ch[i - 1])]
            if cfg.dropout and 4 <= i < n - 1:
                layers.append(nn.Dropout(0.5))
            self.ups.insert(0, nn.Sequential(*layers))
        # output layer stays a plain transposed conv: a ghost of a 1-4 channel output saves nothing
        self.out = nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(2 * ch[0], cfg.out_channels, 4, 2, 1), nn.Sigmoid())

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        m = 2**cfg.n_downs
        if mask.ndim != 4 or mask.shape[1] != cfg.mask_channels or mask.shape[2] % m or mask.shape[3] % m:
            raise InputError("bad_shape", f"U-Net needs [B,{cfg.mask_channels},H,W] with H,W multiples of {m}, got {tuple(mask.shape)}")
        skips = []
        x = mask
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = skips.pop()  # innermost
        for up in reversed(self.ups):
            x = torch.cat([skips.pop(), up(x)], dim=1)
        return self.out(x)


def build_cgan_generator(cfg: CGANConfig) -> UNetGenerator:
    if not isinstance(cfg, CGANConfig):
        raise ConfigError(f"build_cgan_generator needs a CGANConfig, got {type(cfg).__name__}")
    return UNetGenerator(cfg)


def build_cgan_discriminator(cfg: CGANConfig) -> PatchDiscriminator:
    """PatchGAN on concat(mask, image): ``D(mask, image) -> logits [B,1,h,w]``."""
    if not isinstance(cfg, CGANConfig):
        raise ConfigError(f"build_cgan_discriminator needs a CGANConfig, got {type(cfg).__name__}")
    return PatchDiscriminator(cfg.mask_channels, cfg.out_channels, cfg.d_width, cfg.d_layers, cfg.norm)


def mask_labels(condition: str, mask_channels: int) -> tuple[int, ...] | None:
    """The label of each one-hot channel, or None for the 1-channel whole-tumour mask."""
    if condition == "anatomy":
        return ANATOMY_LABELS
    return {4: BRATS_LABELS, 3: TUMOUR_LABELS, 1: None}[mask_channels]


def encode_mask(labels, mask_channels: int = 7, condition: str | None = None) -> torch.Tensor:
    """Label map uint8 [H,W] or [B,H,W] (numpy or torch) → float [B,mask_channels,H,W].

    ``condition`` "anatomy" (7 channels): one-hot over (0, 10, 11, 12, 1, 2, 4). "tumour", the paper's mode:
    tissue labels count as background, then 4 channels one-hot over (0, 1, 2, 4), 3 over (1, 2, 4) with
    background all zero, or 1 = whole tumour (label in 1/2/4). ``condition`` None: anatomy for 7 channels, else
    tumour. A label outside DESIGN.md's set (0, 1, 2, 4, 10, 11, 12) is refused.
    """
    if condition is None:
        condition = "anatomy" if mask_channels == 7 else "tumour"
    check_choice("condition", condition, list(CONDITIONS))
    check_choice("mask_channels", mask_channels, list(CONDITION_CHANNELS[condition]))
    t = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3:
        raise InputError("bad_mask", f"mask must be [H,W] or [B,H,W], got shape {tuple(t.shape)}")
    t = t.long()
    bad = torch.unique(t[~torch.isin(t, torch.tensor(VALID_LABELS))])
    if bad.numel():
        raise InputError("bad_mask", f"labels {bad.tolist()} are not label-map values; valid ones are {list(VALID_LABELS)}")
    if condition == "tumour":
        t = torch.where(torch.isin(t, torch.tensor(TISSUE_LABELS)), 0, t)  # tissue is background here
    order = mask_labels(condition, mask_channels)
    if order is None:
        return torch.isin(t, torch.tensor(TUMOUR_LABELS)).float().unsqueeze(1)
    return torch.stack([(t == v).float() for v in order], dim=1)
