"""PixMed on held-out real anatomy: paired fidelity, tissue order, mask consistency, augmentation value (3 seeds),
the paper's classifier protocol, ghost vs plain U-Net, and the grid label map | synthetic | real.

Data (see medray/datasets/pixmed_corpus.py): TRAIN = MNI152 2009a + Colin27 T1s with their tissue label maps,
healthy and with seeded synthetic lesions; EVAL = the ITK KmeansTest subject (never trained on), likewise.

    medray demo-data --source real --out /tmp/pm/real
    python -c "from medray.datasets.pixmed_corpus import build_pixmed_corpus as b; b('/tmp/pm/real', '/tmp/pm/pix')"
    medray ingest /tmp/pm/pix/train --out /tmp/pm/sh_train --scales 2 --salt pixmed-ref
    medray ingest /tmp/pm/pix/eval --out /tmp/pm/sh_eval --scales 2 --salt pixmed-ref
    .venv/bin/python benchmarks/pixmed_eval.py --checkpoint medray/weights/pixmed.pt \
        --train-shards /tmp/pm/sh_train --eval-shards /tmp/pm/sh_eval [--quick]

Writes benchmarks/results/pixmed_eval.json and benchmarks/results/pixmed_grid.png; prints one summary line.
Targets (issue 13): paired SSIM ≥ 0.70, mask-consistency Dice ≥ 0.6, synthetic WM > GM > CSF on T1.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from medray import tasks
from medray.evaluate import pixmed_eval as E
from medray.evaluate.classifier import label_from_mask, train_and_eval_classifier
from medray.evaluate.segmenter import dice, segment, train_segmenter, tumour_mask
from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.models.summary import SIZE, count_flops

RESULTS = Path(__file__).parent / "results"
TARGETS = {"ssim": 0.70, "dice": 0.6}
PAPER = {"ssim": 0.742, "dataset": "the paper's two Kaggle brain-tumour MRI datasets (its refs [43] and [39]), "
                                   "not BraTS 2021; Table 3", "encoder_only_ghost_memory_ratio": 0.966}
DATA = ("medray pixmed corpus: EVAL = ITK KmeansTest T1 (real subject, never trained on; tissue labels from ITK's "
        "k-means; 1 healthy + 2 copies with synthetic lesions), TRAIN = MNI152 2009a + Colin27 (real templates; "
        "1 healthy + 3 synthetic-lesion copies each)")


def ghost_vs_plain(width: int, n_downs: int) -> dict:
    rows = {}
    for name, kw in (("plain", {"use_ghost": False}), ("ghost_encoder (paper)", {}),
                     ("ghost_encoder_decoder (medray option)", {"ghost_decoder": True})):
        for label, cfg in ((f"U-Net-256 ngf 64, {name}", CGANConfig(**kw)),
                           (f"shipped size (ngf {width}, {n_downs} downs), {name}",
                            CGANConfig(width=width, n_downs=n_downs, **kw))):
            m = build_cgan_generator(cfg).eval()
            params = sum(p.numel() for p in m.parameters())
            rows[label] = {"params": params, "mb_fp32": params * 4 / 2**20,
                           "gflops_256": count_flops(m, torch.rand(1, cfg.mask_channels, SIZE, SIZE)) / 1e9}
    return rows


def main() -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--train-shards", type=Path, required=True)
    ap.add_argument("--eval-shards", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="1 seed, fewer epochs: a smoke run, not the figures")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--part", choices=["all", "main", "aug"], default="all",
                    help="main: fidelity, tissue order, mask Dice, paper's protocol, grid; aug: augmentation value "
                         "(3 seeds). Each part merges its keys into the same JSON, so the two can run side by side")
    ap.add_argument("--seg-epochs", type=int, default=8)
    ap.add_argument("--aug-seg-epochs", type=int, default=6)
    ap.add_argument("--aug-cls-epochs", type=int, default=8)
    ap.add_argument("--n-synth", type=int, default=200)
    ap.add_argument("--eval-stride", type=int, default=1, help="every k-th EVAL slice (CPU budget)")
    ap.add_argument("--train-max", type=int, default=None,
                    help="at most this many TRAIN slices for the segmenter/classifiers (every tumour slice kept first)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()

    def log(what: str) -> None:
        print(f"[pixmed_eval] {time.perf_counter() - t0:7.1f} s  {what}", flush=True)

    loaded = tasks.load(args.checkpoint, family="synth")
    G, cfg = loaded.model, loaded.config
    xte, mte = E.load_role(args.eval_shards)
    xte, mte = xte[::args.eval_stride], mte[::args.eval_stride]
    xtr, mtr = E.load_role(args.train_shards)
    if args.train_max and len(xtr) > args.train_max:
        keep = E.subsample(mtr, args.train_max)
        xtr, mtr = xtr[keep], mtr[keep]
    log(f"loaded {len(xte)} EVAL and {len(xtr)} TRAIN slices")

    out_json = args.out / ("pixmed_eval_quick.json" if args.quick else "pixmed_eval.json")
    result = {
        "checkpoint": str(args.checkpoint), "kind": loaded.task.name, "condition": cfg.condition,
        "generator": {"width": cfg.width, "n_downs": cfg.n_downs, "use_ghost": cfg.use_ghost,
                      "ghost_decoder": cfg.ghost_decoder},
        "data": DATA, "paper": PAPER, "targets": TARGETS, "quick": args.quick,
        "machine": "2 shared CPU cores (heavily contended: load average 40-75 from other jobs), no GPU"}
    if args.part in ("all", "main"):
        result.update(main_part(args, G, cfg, xtr, mtr, xte, mte, log))
    if args.part in ("all", "aug"):
        q = args.quick
        result["augmentation_value"] = E.augmentation_value(
            G, (xtr, mtr), (xte, mte), seeds=(0,) if q else (0, 1, 2), n_synth=64 if q else args.n_synth,
            seg_epochs=2 if q else args.aug_seg_epochs, cls_epochs=3 if q else args.aug_cls_epochs)
        result["augmentation_value"].update(eval_stride=args.eval_stride, train_max=args.train_max)
        log("augmentation value done")
    result[f"wall_s_{args.part}"] = round(time.perf_counter() - t0, 1)
    if out_json.is_file() and args.part != "all":  # the other part's keys, possibly written meanwhile, stay
        result = {**json.loads(out_json.read_text()), **result}
    E.write_json(out_json, result)
    print(summary(result))
    return result


def main_part(args, G, cfg, xtr, mtr, xte, mte, log) -> dict:
    fake = E.synthesize(G, mte)
    log("synthesised the EVAL maps")
    fid = E.fidelity(fake, xte, mte)
    tumour = label_from_mask(mte) == 1
    fid_tumour = E.fidelity(fake[tumour], xte[tumour], mte[tumour]) if tumour.any() else None
    order = {"synthetic": E.tissue_order(fake, mte), "real": E.tissue_order(xte, mte)}

    # mask consistency: segmenter trained on real TRAIN slices, applied to synthetic EVAL slices
    epochs = 3 if args.quick else args.seg_epochs
    seg = train_segmenter(E.down(xtr), E.down_mask(tumour_mask(mtr)), seed=0, epochs=epochs)
    truth = E.down_mask(tumour_mask(mte))
    log("segmenter trained")
    mask_dice = {"synthetic": dice(segment(seg, E.down(fake)), truth),
                 "real (ceiling: same segmenter on the real EVAL slices)": dice(segment(seg, E.down(xte)), truth)}

    # the paper's protocol: classifier trained on real slices scores 100 synthetic slices (tumour-bearing first)
    ytr, yte = label_from_mask(mtr), label_from_mask(mte)
    pick = np.concatenate([np.flatnonzero(yte == 1)[:50], np.flatnonzero(yte == 0)[::3]])[:100]
    paper_proto = {
        "synthetic": train_and_eval_classifier(E.down(xtr), ytr, E.down(fake[pick]), yte[pick], seed=0, epochs=epochs),
        "real counterparts": train_and_eval_classifier(E.down(xtr), ytr, E.down(xte[pick]), yte[pick], seed=0,
                                                       epochs=epochs)}
    for v in paper_proto.values():
        v.pop("train_loss", None)
    log("paper's classifier protocol done")

    # n seeded variants of one map differ (dropout noise)
    row = E.pick_grid_rows(mte, 4)
    var = E.synthesize(G, np.stack([mte[row[0]]] * 3), seed=1)
    variants = {"n": 3, "mean_abs_pairwise_diff": float(np.mean([np.abs(var[i] - var[j]).mean()
                                                                 for i in range(3) for j in range(i + 1, 3)]))}
    grid = E.grid_png(args.out / "pixmed_grid.png", mte[row], fake[row], xte[row],
                      "held-out ITK KmeansTest subject (real T1; lesions synthetic): label map | PixMed | real")
    return {
        "n_eval_slices": int(len(xte)), "n_eval_tumour_slices": int(tumour.sum()), "n_train_slices": int(len(xtr)),
        "fidelity": fid, "fidelity_tumour_slices": fid_tumour, "tissue_order_t1": order,
        "mask_consistency_dice": mask_dice, "segmenter_input": f"{E.SMALL}x{E.SMALL} area-downsampled slices",
        "paper_classifier_protocol": paper_proto, "seeded_variants": variants,
        "ghost_vs_plain": ghost_vs_plain(cfg.width, cfg.n_downs),
        "meets": {"ssim": fid["ssim"]["mean"] >= TARGETS["ssim"], "dice": mask_dice["synthetic"] >= TARGETS["dice"],
                  "tissue_order": order["synthetic"]["wm_gt_gm_gt_csf"]},
        "grid_png": str(grid), "eval_stride": args.eval_stride, "train_max": args.train_max}


def summary(r: dict) -> str:
    parts = []
    if "fidelity" in r:
        f, d = r["fidelity"], r["mask_consistency_dice"]
        parts.append(f"held-out SSIM {f['ssim']['mean']:.3f} (brain {f['ssim_fg']['mean']:.3f}), PSNR "
                     f"{f['psnr']['mean']:.2f} dB; mask Dice {d['synthetic']:.3f} (real {list(d.values())[1]:.3f}); "
                     f"T1 WM>GM>CSF {r['tissue_order_t1']['synthetic']['wm_gt_gm_gt_csf']}")
    if "augmentation_value" in r:
        a = r["augmentation_value"]["segmenter_dice"]
        parts.append(f"aug Dice real {a['real']['mean']:.3f}±{a['real']['std']:.3f} vs +synth "
                     f"{a['real_plus_synthetic']['mean']:.3f}±{a['real_plus_synthetic']['std']:.3f}")
    return f"pixmed_eval: {'; '.join(parts)}; paper SSIM {PAPER['ssim']} (Kaggle refs [43],[39])"


if __name__ == "__main__":
    main()
