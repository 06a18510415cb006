"""SR quality of the shipped weights on a held-out evaluation set, beside bicubic, Lanczos, nearest and the
baseline kind, whole-slice and foreground (body mask) PSNR/SSIM, with issue 14's acceptance checks.

Reads *every* split of the evaluation shards (ingest splits any input into train/val/test; for an evaluation
role they are all held out), single-channel slices with each channel a sample, as the shipped models were trained.

    .venv/bin/medray demo-data --source real --out corpus
    .venv/bin/medray ingest corpus/eval --out shards-eval --scales 2,4 --salt S
    .venv/bin/python benchmarks/sr_quality.py --shards shards-eval [--exclude-patient P ...]

``--exclude-patient`` names pseudonymised patients to leave out of the "subset" figures (e.g. the ITK subject,
whose 128×62 in-plane grid ingest *up*samples to 256², so its "HR" is not a resolution ground truth); the
"all" figures always cover every slice. Writes benchmarks/results/sr_quality.json and prints one line per scale.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from medray import metrics as M
from medray import tasks
from medray.data.batches import EvalCollate
from medray.pipelines.enhance import enhance_batch, upsample_classic
from medray.shards.decode import table_to_batch
from medray.shards.local import read_rows_local
from medray.shards.schema import SPLITS
from medray.weights import WEIGHTS_DIR, weights_file

RESULTS = Path(__file__).parent / "results" / "sr_quality.json"
METRICS = {"psnr": M.psnr, "psnr_fg": M.psnr_fg, "ssim": M.ssim, "ssim_fg": M.ssim_fg}
TARGETS = {2: {"psnr_fg_gain_db": 3.0, "one_minus_ssim_ratio": 0.7}, 4: {"psnr_fg_gain_db": 1.5}}


def lanczos(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """PIL's Lanczos-3 on each float plane ('F' mode keeps full precision), clamped to [0, 1]."""
    b, c, h, w = lr.shape
    out = np.empty((b, c, h * scale, w * scale), np.float32)
    for i in range(b):
        for j in range(c):
            im = Image.fromarray(lr[i, j].numpy().astype(np.float32), mode="F")
            out[i, j] = np.asarray(im.resize((w * scale, h * scale), Image.LANCZOS))
    return torch.from_numpy(out).clamp_(0, 1)


def rows_for(shards: Path, scale: int) -> list:
    """(split, table) for every split of the shards that has single-channel rows at ``scale``."""
    out = []
    for split in SPLITS:
        try:
            t = read_rows_local(shards, split, scale=scale, n_channels=1, channels_as_samples=True)
        except Exception as e:  # a split absent from the shards: nothing to score there
            print(f"  {split}: skipped ({e})")
            continue
        if t.num_rows:
            out.append((split, t))
    return out


def score(models: dict, shards: Path, scale: int, batch_size: int = 8) -> list[dict]:
    collate = EvalCollate(1, scale)
    rows = []
    with torch.no_grad():
        for split, table in rows_for(shards, scale):
            for start in range(0, table.num_rows, batch_size):
                part = table.slice(start, batch_size)
                b = collate(table_to_batch(part))
                lr, hr = b["lr"], b["hr"].numpy()
                outs = {name: enhance_batch(m, lr, b["vitals"])[0] for name, m in models.items()}
                outs.update(bicubic=upsample_classic(lr, scale, "bicubic"), lanczos=lanczos(lr, scale),
                            nearest=upsample_classic(lr, scale, "nearest"))
                meta = zip(part.column("patient_id").to_pylist(), part.column("slice_index").to_pylist(),
                           part.column("modality").to_pylist())
                for i, (pid, sl, mod) in enumerate(meta):
                    for method, t in outs.items():
                        rows.append({"split": split, "patient": pid, "slice": sl, "modality": mod, "method": method,
                                     **{k: fn(t[i].numpy(), hr[i], 1.0) for k, fn in METRICS.items()}})
    return rows


def summarise(rows: list[dict]) -> dict:
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == method]
        out[method] = {k: float(np.nanmean([r[k] for r in sel])) for k in METRICS} | {"n": len(sel)}
    return out


def acceptance(summary: dict, scale: int, model: str = "iotgan") -> dict:
    if model not in summary:
        return {"measured": False}
    m, b = summary[model], summary["bicubic"]
    res = {"psnr_fg_gain_db": m["psnr_fg"] - b["psnr_fg"], "psnr_gain_db": m["psnr"] - b["psnr"],
           "one_minus_ssim_fg_ratio": (1 - m["ssim_fg"]) / max(1 - b["ssim_fg"], 1e-12),
           "one_minus_ssim_ratio": (1 - m["ssim"]) / max(1 - b["ssim"], 1e-12)}
    t = TARGETS[scale]
    res["psnr_fg_target_met"] = res["psnr_fg_gain_db"] >= t["psnr_fg_gain_db"]
    if "one_minus_ssim_ratio" in t:
        res["ssim_fg_target_met"] = res["one_minus_ssim_fg_ratio"] <= t["one_minus_ssim_ratio"]
    if "baseline" in summary:
        res["iotgan_minus_baseline_psnr_fg_db"] = m["psnr_fg"] - summary["baseline"]["psnr_fg"]
    res["targets"] = t
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=Path, required=True, help="evaluation-role shards (every split is read)")
    ap.add_argument("--weights", type=Path, default=WEIGHTS_DIR, help="folder holding <kind>_x<scale>.pt")
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--exclude-patient", action="append", default=[], help="left out of the 'subset' figures")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    result = {"shards": str(args.shards.resolve()), "splits": "all", "excluded_from_subset": args.exclude_patient,
              "scales": {}}
    for scale in (int(s) for s in args.scales.split(",")):
        models = {}
        for kind in tasks.kinds("sr"):
            p = weights_file(kind, scale) if args.weights == WEIGHTS_DIR else args.weights / f"{kind}_x{scale}.pt"
            if p.is_file():
                models[kind] = tasks.load(p).model
        t0 = time.perf_counter()
        rows = score(models, args.shards, scale)
        subset = [r for r in rows if r["patient"] not in set(args.exclude_patient)]
        summ, summ_sub = summarise(rows), summarise(subset)
        result["scales"][str(scale)] = {
            "models": sorted(models), "n_slices": len(rows) // max(len(summ), 1), "seconds": time.perf_counter() - t0,
            "all": summ, "subset": summ_sub,
            "by_modality": {mod: summarise([r for r in rows if r["modality"] == mod])
                            for mod in sorted({r["modality"] for r in rows})},
            "by_patient": {pid: summarise([r for r in rows if r["patient"] == pid])
                           for pid in sorted({r["patient"] for r in rows})},
            "acceptance_all": acceptance(summ, scale), "acceptance_subset": acceptance(summ_sub, scale),
        }
        s = result["scales"][str(scale)]
        line = " | ".join(f"{k} {v['psnr_fg']:.2f} dB/{v['ssim_fg']:.4f}" for k, v in summ.items())
        print(f"sr_quality x{scale} ({s['n_slices']} slices, fg PSNR/SSIM): {line}; "
              f"acceptance: {json.dumps({k: v for k, v in s['acceptance_all'].items() if k != 'targets'})}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
