"""Ghost U-Net vs the plain pix2pix U-Net-256: parameter and FLOP ratios at 256×256 (target ≤ 0.55×).

"ghost" here is medray's option, ghost modules in encoder and decoder (``ghost_decoder=True``); the paper's
placement, encoder only (``CGANConfig``'s default), is recorded beside it (it saves far less: the decoder holds
most of the weights). Both with the paper's tumour-only 4-channel mask, like pix2pix's U-Net-256.
Writes benchmarks/results/model_size.json and prints one summary line.
    .venv/bin/python benchmarks/model_size.py
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.models.summary import SIZE, count_flops

TARGET = 0.55


def measure(cfg: CGANConfig) -> dict:
    model = build_cgan_generator(cfg).eval()
    mask = torch.rand(1, cfg.mask_channels, SIZE, SIZE)
    return {"params": sum(p.numel() for p in model.parameters()), "flops": count_flops(model, mask)}


def main() -> dict:
    plain = measure(CGANConfig(condition="tumour", use_ghost=False))
    ghost = measure(CGANConfig(condition="tumour", use_ghost=True, ghost_decoder=True))
    enc_only = measure(CGANConfig(condition="tumour", use_ghost=True, ghost_decoder=False))
    result = {
        "input": f"1x{CGANConfig(condition='tumour').mask_channels}x{SIZE}x{SIZE}",
        "ghost_ratio": CGANConfig().ghost_ratio,
        "plain_unet256": plain,
        "ghost_unet": ghost,
        "ghost_encoder_only": enc_only,
        "params_ratio": ghost["params"] / plain["params"],
        "flops_ratio": ghost["flops"] / plain["flops"],
        "encoder_only_params_ratio": enc_only["params"] / plain["params"],
        "encoder_only_flops_ratio": enc_only["flops"] / plain["flops"],
        "target": TARGET,
    }
    result["meets_target"] = result["params_ratio"] <= TARGET and result["flops_ratio"] <= TARGET
    out = Path(__file__).parent / "results" / "model_size.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"model_size: ghost/plain U-Net-256 params {result['params_ratio']:.3f}x "
          f"({ghost['params']:,}/{plain['params']:,}), FLOPs {result['flops_ratio']:.3f}x "
          f"({ghost['flops'] / 1e9:.2f}/{plain['flops'] / 1e9:.2f} G) — target <= {TARGET}x: "
          f"{'met' if result['meets_target'] else 'NOT met'} (encoder-only ghost: "
          f"{result['encoder_only_params_ratio']:.3f}x params, {result['encoder_only_flops_ratio']:.3f}x FLOPs)")
    return result


if __name__ == "__main__":
    main()
