"""Early stopping on a validation metric that should go up (PSNR): stop after ``patience`` epochs without a new
best by more than ``min_delta``. The state is a small dict so it travels inside checkpoints and survives resume."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class EarlyStopping:
    patience: int = 20
    min_delta: float = 0.0
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record this epoch's metric; True when it is a new best. NaN never counts as an improvement."""
        if value == value and value > self.best + self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = float(value), epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict | None, patience: int, min_delta: float) -> "EarlyStopping":
        es = cls(patience=patience, min_delta=min_delta)
        if state:
            es.best, es.best_epoch, es.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]
        return es
