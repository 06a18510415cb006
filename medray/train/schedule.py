"""The learning-rate schedule: reduce on a plateau of validation PSNR (paper A's "adaptive learning rate
adjustment"). One ``ReduceLROnPlateau`` per optimizer (G and, for GAN kinds, D), stepped once per epoch on the
same all-reduced val PSNR on every rank, so all ranks keep the same learning rates. Its state rides in the
checkpoint, so a resumed run continues the schedule rather than restarting it."""
from __future__ import annotations

import torch


class PlateauSchedule:
    def __init__(self, optimizers, *, factor: float, patience: int, min_lr: float):
        self.enabled = patience > 0 and factor < 1.0
        self.scheds = [torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode="max", factor=factor, patience=patience,
                                                                  min_lr=min_lr)
                       for o in optimizers if o is not None] if self.enabled else []
        self.optimizers = [o for o in optimizers if o is not None]

    def step(self, val_psnr: float) -> None:
        if val_psnr != val_psnr:  # NaN (no val slices) must not count as a bad epoch
            return
        for s in self.scheds:
            s.step(val_psnr)

    @property
    def lr(self) -> float:
        return float(self.optimizers[0].param_groups[0]["lr"]) if self.optimizers else float("nan")

    def state_dict(self) -> list:
        return [s.state_dict() for s in self.scheds]

    def load_state_dict(self, state) -> None:
        for s, st in zip(self.scheds, state or []):
            s.load_state_dict(st)
