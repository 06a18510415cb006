"""Downstream check of PixMed's claim: does adding synthetic slices help a "tumour vs healthy slice" classifier?

A deliberately small plain-torch CNN (three conv blocks, global mean+max pooling, linear head; ~24 k
parameters) so that training on a few hundred 64×64 or 128×128 slices takes seconds on one CPU core. The
demo trains it once on real slices and once on real + synthetic ones and compares accuracy on the *same*
held-out real slices. Not the paper's DenseNet201: the point is the real-vs-augmented difference, measured.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medray.config import InputError, check_range
from medray.models.cgan import TUMOUR_LABELS


class SliceClassifier(nn.Module):
    """[B, C, H, W] in [0, 1] → logits [B, 2] (0 healthy, 1 tumour). Any H, W ≥ 8."""

    def __init__(self, in_channels: int = 1, width: int = 16):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            # GroupNorm, not BatchNorm: with few hundred slices BN's running statistics are still poor after
            # a short training, and eval-mode predictions collapse to one class.
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(4, cout),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(in_channels, width), block(width, 2 * width), block(2 * width, 4 * width))
        self.head = nn.Linear(8 * width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        # Max pooling sees a small lesion anywhere in the slice; mean pooling alone would dilute it.
        return self.head(torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1))


def label_from_mask(masks: np.ndarray, min_fraction: float = 0.002) -> np.ndarray:
    """Slice label from its seg mask(s) [N, H, W]: 1 when tumour (labels 1/2/4) covers ≥ ``min_fraction``.
    Tissue labels (10 CSF, 11 GM, 12 WM) are healthy anatomy, never tumour.

    The floor keeps slices that only graze a lesion's edge (a handful of partial-volume voxels) out of the
    positive class, where no reader could call them.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise InputError("bad_shape", f"masks must be [N, H, W], got shape {masks.shape}")
    return (np.isin(masks, TUMOUR_LABELS).mean(axis=(1, 2)) >= min_fraction).astype(np.int64)


def _as_tensor(images: np.ndarray, labels: np.ndarray, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.asarray(images, dtype=np.float32)
    y = np.asarray(labels)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or min(x.shape[2:]) < 8:
        raise InputError("bad_shape", f"{name} images must be [N, H, W] or [N, C, H, W] with H, W ≥ 8, got {x.shape}")
    if y.shape != (x.shape[0],):
        raise InputError("bad_shape", f"{name} labels must be [N={x.shape[0]}], got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise InputError("bad_labels", f"{name} labels must be 0 (healthy) or 1 (tumour), got {sorted(set(y.tolist()))[:5]}")
    if not np.isfinite(x).all():
        raise InputError("not_finite", f"{name} images contain NaN or inf")
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))


def train_and_eval_classifier(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                              test_labels: np.ndarray, seed: int = 0, epochs: int = 10, batch_size: int = 16,
                              lr: float = 2e-3, width: int = 16) -> dict:
    """Train on (train_images, train_labels), return accuracy on the test set plus what was used.

    Images are [N, H, W] or [N, C, H, W] float in [0, 1]; labels 0 healthy / 1 tumour. Seeded: same inputs and
    seed → same result. Classes are re-weighted by inverse frequency, as demo cohorts have more healthy slices.
    """
    check_range("epochs", epochs, 1, 1000)
    check_range("batch_size", batch_size, 1, 4096)
    xtr, ytr = _as_tensor(train_images, train_labels, "train")
    xte, yte = _as_tensor(test_images, test_labels, "test")
    if xtr.shape[1:] != xte.shape[1:]:
        raise InputError("bad_shape", f"train images {tuple(xtr.shape[1:])} and test images {tuple(xte.shape[1:])} differ")
    if len(ytr) == 0 or len(yte) == 0:
        raise InputError("empty", f"need at least one train and one test slice, got {len(ytr)} and {len(yte)}")

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SliceClassifier(in_channels=xtr.shape[1], width=width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    counts = torch.bincount(ytr, minlength=2).clamp(min=1).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (2 * counts))
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(ytr), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(ytr))

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(xte[i:i + 256]) for i in range(0, len(yte), 256)])
    pred = logits.argmax(1)
    correct = pred == yte
    per_class = [float(correct[yte == c].float().mean()) if (yte == c).any() else float("nan") for c in (0, 1)]
    return {
        "accuracy": float(correct.float().mean()),
        "balanced_accuracy": float(np.nanmean(per_class)),
        "recall": per_class[1],  # tumour slices called tumour
        "test_loss": float(nn.functional.cross_entropy(logits, yte)),  # unweighted mean cross-entropy
        "n_train": int(len(ytr)),
        "n_test": int(len(yte)),
        "n_train_tumour": int(ytr.sum()),
        "n_test_tumour": int(yte.sum()),
        "epochs": int(epochs),
        "seed": int(seed),
        "train_loss": [round(v, 5) for v in losses],
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }
