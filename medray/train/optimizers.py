"""Adam(lr, β1=0.5) for G and D, as in pix2pix and both papers; no D optimizer for a kind without a D."""
from __future__ import annotations

import torch
from torch import nn


def build_optimizers(cfg, G: nn.Module, D: nn.Module | None):
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=betas) if D is not None else None
    return opt_g, opt_d
