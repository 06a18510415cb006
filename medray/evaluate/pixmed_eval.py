"""PixMed evaluation on held-out label maps, each figure labelled with the data it used.

Inputs: a synthesis checkpoint; shards of the TRAIN role (the subjects the generator saw) and of the EVAL role
(a subject it never saw), both ingested from ``medray.datasets.pixmed_corpus`` (1-channel T1 + label map).

* fidelity: synthetic vs the real slice each EVAL map came from — PSNR/SSIM over the slice and over the brain
  (foreground) — and the tissue order a T1 must show (mean synthetic WM > GM > CSF);
* mask consistency: a small segmenter trained on real TRAIN slices segments the tumour in synthetic EVAL slices;
  Dice against the conditioning map's tumour (beside its Dice on the real EVAL slices, the ceiling);
* augmentation value: that segmenter and the tumour/healthy classifier trained on real vs real + synthetic TRAIN
  slices, scored on the real EVAL slices, over seeds (mean ± std);
* the paper's classifier protocol: a classifier trained on real slices scores 100 synthetic slices;
* a grid PNG: label map | synthetic | real.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from medray.data.augment import AugmentConfig, augment_image
from medray.evaluate.classifier import label_from_mask, train_and_eval_classifier
from medray.evaluate.segmenter import dice, segment, train_segmenter, tumour_mask
from medray.metrics import psnr_batch, psnr_fg_batch, ssim_batch, ssim_fg_batch
from medray.pipelines.synthesize import synthesize_batch
from medray.shards.decode import decode_batch, table_to_batch
from medray.shards.local import read_rows_local
from medray.shards.schema import SPLITS

SMALL = 64  # segmenter/classifier side: 256² slices area-downsampled (CPU budget)
CSF, GM, WM = 10, 11, 12
MAP_GEOMETRY = AugmentConfig(rotation_deg=12.0, scale_range=(0.9, 1.1), translate_frac=0.05, flip=True,
                             gamma_range=(1.0, 1.0), contrast_range=(1.0, 1.0), brightness=0.0)


def load_role(shards: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every labelled 1-channel slice of a shard set (all splits: a role folder is one population)."""
    hr, maps = [], []
    for split in SPLITS:
        table = read_rows_local(Path(shards), split, n_channels=1)
        if table.num_rows == 0:
            continue
        b = decode_batch(table_to_batch(table), 1, None)
        keep = b["has_mask"]
        hr.append(b["hr"][keep])
        maps.append(b["mask"][keep])
    return np.concatenate(hr), np.concatenate(maps)


def subsample(maps: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of at most n slices: every tumour slice first (they are the scarce class), then a seeded draw of the
    others; sorted."""
    tum = np.flatnonzero(label_from_mask(maps) == 1)
    rest = np.flatnonzero(label_from_mask(maps) == 0)
    rng = np.random.default_rng(seed)
    take = list(tum[:n]) + list(rng.permutation(rest)[:max(0, n - len(tum))])
    return np.sort(np.asarray(take, dtype=np.int64))


def down(x: np.ndarray, size: int = SMALL) -> np.ndarray:
    """[N, (C,) S, S] → area mean to [N, (C,) size, size]."""
    s = x.shape[-1]
    f = s // size
    return x.reshape(*x.shape[:-2], size, f, size, f).mean(axis=(-3, -1)).astype(np.float32)


def down_mask(m: np.ndarray, size: int = SMALL) -> np.ndarray:
    """Binary [N, S, S] → [N, size, size]: a small pixel is tumour when half its area is."""
    return (down(m.astype(np.float32), size) >= 0.5).astype(np.float32)


def synthesize(G, maps: np.ndarray, batch_size: int = 8, seed: int | None = None) -> np.ndarray:
    out = []
    for i in range(0, len(maps), batch_size):
        s = None if seed is None else seed + i
        out.append(synthesize_batch(G, maps[i:i + batch_size], seed=s).cpu().numpy())
    return np.concatenate(out)


def _ms(v) -> dict:
    v = np.asarray(v, np.float64)
    v = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if v.size else float("nan"), "std": float(v.std()) if v.size else float("nan"),
            "n": int(v.size)}


def fidelity(fake: np.ndarray, real: np.ndarray, maps: np.ndarray) -> dict:
    f, r = torch.from_numpy(fake), torch.from_numpy(real)
    brain = torch.from_numpy(maps > 0)[:, None]
    out = {"psnr": _ms(psnr_batch(f, r).numpy()), "ssim": _ms(ssim_batch(f, r).numpy()),
           "psnr_fg": _ms(psnr_fg_batch(f, r, mask=brain).numpy()), "ssim_fg": _ms(ssim_fg_batch(f, r, mask=brain).numpy())}
    return out


def tissue_order(images: np.ndarray, maps: np.ndarray) -> dict:
    means = {name: float(images[:, 0][maps == lab].mean()) for name, lab in (("csf", CSF), ("gm", GM), ("wm", WM))}
    return {**means, "wm_gt_gm_gt_csf": bool(means["wm"] > means["gm"] > means["csf"])}


def map_variants(maps: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n label maps: the given ones cycled, each after a seeded geometric augmentation (nearest for labels)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        m = maps[k % len(maps)]
        _, m = augment_image(np.zeros(m.shape, np.float32), m, seed=int(rng.integers(1 << 31)), cfg=MAP_GEOMETRY)
        out.append(m)
    return np.stack(out).astype(np.uint8)


def augmentation_value(G, train: tuple, test: tuple, seeds=(0, 1, 2), n_synth: int = 200, seg_epochs: int = 6,
                       cls_epochs: int = 8) -> dict:
    """Segmenter Dice and classifier accuracy on real EVAL slices: trained on real TRAIN vs real + synthetic."""
    (xtr, mtr), (xte, mte) = train, test
    tumour_maps = mtr[label_from_mask(mtr) == 1]
    xtr_s, ytr_s, ttr = down(xtr), label_from_mask(mtr), down_mask(tumour_mask(mtr))
    xte_s, yte, tte = down(xte), label_from_mask(mte), down_mask(tumour_mask(mte))
    rows = {"seg_real": [], "seg_mixed": [], "cls_real": [], "cls_mixed": [], "bal_real": [], "bal_mixed": []}
    for seed in seeds:
        vm = map_variants(tumour_maps, n_synth, seed)
        xs = down(synthesize(G, vm, seed=10_000 * (seed + 1)))
        ts, ys = down_mask(tumour_mask(vm)), label_from_mask(vm)
        for tag, (x, t, y) in {"real": (xtr_s, ttr, ytr_s),
                               "mixed": (np.concatenate([xtr_s, xs]), np.concatenate([ttr, ts]),
                                         np.concatenate([ytr_s, ys]))}.items():
            seg = train_segmenter(x, t, seed=seed, epochs=seg_epochs)
            rows[f"seg_{tag}"].append(dice(segment(seg, xte_s), tte))
            c = train_and_eval_classifier(x, y, xte_s, yte, seed=seed, epochs=cls_epochs)
            rows[f"cls_{tag}"].append(c["accuracy"])
            rows[f"bal_{tag}"].append(c["balanced_accuracy"])
    return {"seeds": list(seeds), "n_synthetic": n_synth, "n_train_real": int(len(xtr)), "n_test_real": int(len(xte)),
            "segmenter_dice": {"real": _ms(rows["seg_real"]), "real_plus_synthetic": _ms(rows["seg_mixed"]),
                               "per_seed": {"real": rows["seg_real"], "real_plus_synthetic": rows["seg_mixed"]}},
            "classifier_accuracy": {"real": _ms(rows["cls_real"]), "real_plus_synthetic": _ms(rows["cls_mixed"])},
            "classifier_balanced_accuracy": {"real": _ms(rows["bal_real"]), "real_plus_synthetic": _ms(rows["bal_mixed"])}}


def grid_png(path: Path, maps: np.ndarray, fake: np.ndarray, real: np.ndarray, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    # label map colours: background, CSF, GM, WM, necrosis, edema, enhancing
    lut = {0: (0, 0, 0), 10: (0.2, 0.4, 1.0), 11: (0.55, 0.55, 0.55), 12: (0.95, 0.95, 0.95), 1: (1.0, 0.1, 0.1),
           2: (1.0, 0.85, 0.1), 4: (0.1, 0.9, 0.3)}
    order = list(lut)
    idx = np.vectorize(order.index)(maps)
    n = len(maps)
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.6 * n))
    axes = np.atleast_2d(axes)
    for i in range(n):
        for j, (img, kw, name) in enumerate(((idx[i], {"cmap": ListedColormap([lut[k] for k in order]), "vmin": 0,
                                                       "vmax": len(order) - 1, "interpolation": "nearest"}, "label map"),
                                             (fake[i, 0], {"cmap": "gray", "vmin": 0, "vmax": 1}, "synthetic (PixMed)"),
                                             (real[i, 0], {"cmap": "gray", "vmin": 0, "vmax": 1}, "real T1"))):
            axes[i, j].imshow(img, **kw)
            axes[i, j].set_axis_off()
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def pick_grid_rows(maps: np.ndarray, n: int = 4) -> list[int]:
    """Slices for the grid: the n with the most tumour, spread over different levels, then the largest brains."""
    tum = tumour_mask(maps).sum(axis=(1, 2))
    brain = (maps > 0).sum(axis=(1, 2))
    order = np.lexsort((-brain, -tum))
    picked: list[int] = []
    for i in order:
        if all(abs(int(i) - j) > 8 for j in picked):
            picked.append(int(i))
        if len(picked) == n:
            break
    return sorted(picked)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
