"""GhostNet ghost modules (Han et al., CVPR 2020) for strided convs and transposed convs.

A ghost module makes ``ceil(out/ratio)`` "intrinsic" channels with the expensive primary conv and the
rest as cheap depthwise 3×3 "ghost" features of them, then concatenates (and trims to ``out``).
Params and FLOPs of the primary conv drop by ≈ ``ratio``; the depthwise part costs 9 MACs per output.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class GhostModule(nn.Module):
    def __init__(self, cin: int, cout: int, ratio: int = 2, *, transposed: bool = False, bias: bool = False,
                 kernel_size: int = 4, stride: int = 2, padding: int = 1, dw_size: int = 3):
        super().__init__()
        self.cout = cout
        init = math.ceil(cout / ratio)
        make = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.primary = make(cin, init, kernel_size, stride, padding, bias=bias)
        # depthwise: each intrinsic channel yields (ratio−1) ghosts
        self.cheap = nn.Conv2d(init, init * (ratio - 1), dw_size, 1, dw_size // 2, groups=init, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], dim=1)[:, : self.cout]
