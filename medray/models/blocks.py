"""Building blocks of the IoT-GAN super-resolution generator (paper A).

Each block is a small ``nn.Module`` whose forward is the formula in its docstring, so the ablation
switches in ``sr_generator.py`` can swap a block for its plain counterpart and nothing else changes.
"""
from __future__ import annotations

import torch
from torch import nn

from medray.config import check_choice


def conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    """'same' convolution (odd kernel sizes only)."""
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class ResidualAttention(nn.Module):
    """``Y = X + A ⊙ (W * X)`` with the attention map ``A = σ(Conv(X))`` (per pixel and channel).

    ``W`` is conv → LeakyReLU → conv, the usual residual body; the attention lets the block pass
    detail where the map says it matters and leave flat regions alone.
    """

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(conv(width, width), nn.LeakyReLU(0.2, inplace=True), conv(width, width))
        self.attn = conv(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sigmoid(self.attn(x)) * self.body(x)


class ResidualConv(nn.Module):
    """The ablation counterpart of ``ResidualAttention``: ``Y = X + W * X`` (no attention map)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(conv(width, width), nn.LeakyReLU(0.2, inplace=True), conv(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MultiScaleFusion(nn.Module):
    """Parallel convolutions with kernel sizes ``k`` fused as ``Y = Σ_k λ_k · LReLU(Conv_k(X))``.

    The λ are learned scalars, initialised to 1/K so the fused output starts at the branch average.
    """

    def __init__(self, width: int, kernel_sizes: tuple[int, ...] = (3, 5, 7)):
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        self.branches = nn.ModuleList(conv(width, width, k) for k in self.kernel_sizes)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.lambdas = nn.Parameter(torch.full((len(self.kernel_sizes),), 1.0 / len(self.kernel_sizes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = 0
        for lam, branch in zip(self.lambdas, self.branches):
            out = out + lam * self.act(branch(x))
        return out


class SingleScaleConv(nn.Module):
    """The ablation counterpart of ``MultiScaleFusion``: one 3×3 conv + LeakyReLU."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = conv(width, width)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class TransposedUpsampler(nn.Module):
    """×``scale`` by a stack of stride-2 transposed convolutions (k=4, p=1 doubles H and W exactly)."""

    def __init__(self, width: int, scale: int):
        super().__init__()
        check_choice("scale", scale, [2, 4])
        stages = []
        for _ in range({2: 1, 4: 2}[scale]):
            stages += [nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        self.stages = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)
