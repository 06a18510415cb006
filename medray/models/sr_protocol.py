"""The attributes every super-resolution model shares with the enhance pipeline (medray/tasks/sr.py documents
the whole protocol): read from the model's own config, so a checkpoint's config is the one source of truth."""
from __future__ import annotations

from torch import nn


class SRModel(nn.Module):
    cfg: object  # a frozen config dataclass with in_channels and scale

    @property
    def scale(self) -> int:
        return self.cfg.scale

    @property
    def in_channels(self) -> int:
        return self.cfg.in_channels
