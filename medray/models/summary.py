"""Size report of every model: parameters, fp32 MB and FLOPs of one forward pass at 256×256.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (counts matmul/conv as 2·MACs; element-wise
ops are not counted). For the SR generators "256×256" is the HR output, so the input is 256/scale.
"""
from __future__ import annotations

import torch

from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.models.discriminator import DiscriminatorConfig, build_discriminator
from medray.models.sr_baseline import BaselineSRConfig, build_baseline
from medray.models.sr_generator import SRGeneratorConfig, build_generator

SIZE = 256


def count_flops(model: torch.nn.Module, *inputs) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def _row(name: str, model: torch.nn.Module, inputs: tuple, config) -> dict:
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    return {
        "name": name,
        "params": int(params),
        "fp32_mb": round(params * 4 / 2**20, 3),
        "gflops": round(count_flops(model, *inputs) / 1e9, 3),
        "input": "x".join(str(d) for d in inputs[0].shape),
        "config": type(config).__name__,
    }


def model_summary() -> list[dict]:
    """One row per model: name, params, fp32_mb, gflops (at 256×256), input shape, config class."""
    rows = []
    for scale in (2, 4):
        cfg = SRGeneratorConfig(in_channels=1, scale=scale)
        lr = torch.rand(1, 1, SIZE // scale, SIZE // scale)
        vitals = torch.tensor([[72.0, 98.0, 36.8, 0.2]])
        rows.append(_row(f"iotgan_generator_x{scale}", build_generator(cfg), (lr, vitals), cfg))
        bcfg = BaselineSRConfig(in_channels=1, scale=scale)  # the plain SR baseline every IoT-GAN claim is measured against
        rows.append(_row(f"baseline_sr_x{scale}", build_baseline(bcfg), (lr,), bcfg))
    dcfg = DiscriminatorConfig(in_channels=1)
    rows.append(_row("hybrid_discriminator", build_discriminator(dcfg), (torch.rand(1, 1, SIZE, SIZE),), dcfg))
    # the paper's tumour-only 4-channel mask, so the rows stay comparable to pix2pix's U-Net-256
    for name, kw in (("ghost_unet", {"ghost_decoder": True}), ("ghost_unet_encoder", {}),
                     ("plain_unet256", {"use_ghost": False})):
        ccfg = CGANConfig(condition="tumour", **kw)
        mask = torch.rand(1, ccfg.mask_channels, SIZE, SIZE)
        rows.append(_row(name, build_cgan_generator(ccfg), (mask,), ccfg))
    return rows


def format_summary(rows: list[dict]) -> str:
    """Plain-text table of ``model_summary()`` rows."""
    head = f"{'model':<24} {'params':>12} {'fp32 MB':>9} {'GFLOPs@256':>11}  input"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<24} {r['params']:>12,} {r['fp32_mb']:>9.2f} {r['gflops']:>11.2f}  {r['input']}")
    return "\n".join(lines)
