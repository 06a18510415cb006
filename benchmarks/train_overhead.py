"""Ray Train overhead on the GAN step: the same number of steps through a plain torch loop vs a 1-worker
TorchTrainer, and img/s of 1 vs 2 workers (same per-worker batch).

Throughput is the training part of the epoch (data iteration + step, as the loop reports ``img_per_s``);
wall time of ``fit()`` (worker start, dataset materialisation, validation, checkpoint) is reported beside
it. The plain loop runs with as many torch threads as one Ray worker gets (1 CPU → 1 thread).

    python benchmarks/train_overhead.py [--shards DIR] [--steps 20] [--batch 4] [--patch 64]

Without --shards it builds demo data (4 patients) and ingests it into a temp folder first.
Writes benchmarks/results/train_overhead.json and prints one summary line.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "train_overhead.json"


def _shards(tmp: Path) -> Path:
    from medray.datasets.demo_corpus import make_demo_data
    from medray.ingest.run import run_ingest

    make_demo_data(tmp / "demo", patients=4, seed=0)
    run_ingest([tmp / "demo"], tmp / "shards", scales=(2,), seed=0, salt="bench",
               vitals=tmp / "demo" / "vitals.csv")
    return tmp / "shards"


def plain_loop(cfg, shards: Path, steps: int) -> dict:
    """The same step on the same rows without Ray: pyarrow read → TrainCollate → sr_train_step."""
    from medray.data.batches import BatchSpec, TrainCollate
    from medray.shards.decode import table_to_batch
    from medray.shards.local import read_rows_local
    from medray import tasks
    from medray.train.optimizers import build_optimizers
    from medray.train.step import resolve_amp, sr_train_step

    torch.set_num_threads(1)
    parts = tasks.get(cfg.model).build(cfg)
    opt_g, opt_d = build_optimizers(cfg, parts.G, parts.D)
    amp = resolve_amp(cfg.amp, torch.device("cpu"))
    table = read_rows_local(shards, "train", scale=cfg.scale, n_channels=cfg.n_channels)
    collate = TrainCollate(BatchSpec(cfg.n_channels, cfg.scale, cfg.patch, cfg.augmentation, cfg.seed), 0, 0)
    bs, n = cfg.per_worker_batch, 0
    t0 = time.perf_counter()
    while n < steps:
        for start in range(0, table.num_rows - bs + 1, bs):
            batch = collate(table_to_batch(table.slice(start, bs)))
            sr_train_step(parts.G, parts.D, opt_g, opt_d, batch, parts.loss, parts.adv_mode, amp)
            n += 1
            if n >= steps:
                break
    dt = time.perf_counter() - t0
    return {"steps": n, "seconds": dt, "img_per_s": n * bs / dt}


def ray_run(cfg, shards: Path, storage: Path, name: str) -> dict:
    from medray.train.options import RunOptions
    from medray.train.run import run_training

    t0 = time.perf_counter()
    out = run_training(RunOptions(shards=shards, name=name, storage=storage, train=cfg))
    wall = time.perf_counter() - t0
    m = out.metrics
    return {"steps": m["step"], "workers": cfg.num_workers, "img_per_s": m["img_per_s"],
            "train_seconds": m["step"] * cfg.batch_size / m["img_per_s"], "fit_wall_seconds": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=Path)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4, help="per-worker batch")
    ap.add_argument("--patch", type=int, default=64)
    args = ap.parse_args()

    import ray

    from medray.train.options import TrainConfig

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory(prefix="medray-bench-") as tmp:
        tmp = Path(tmp)
        shards = args.shards or _shards(tmp)
        base = dict(n_channels=4, scale=2, patch=args.patch, max_epochs=1, max_steps=args.steps, val_max_slices=1,
                    val_batch_size=1, augment=True, patience=0)
        cfg1 = TrainConfig(num_workers=1, batch_size=args.batch, **base)
        plain = plain_loop(cfg1, shards, args.steps)
        one = ray_run(cfg1, shards, tmp / "runs", "bench-1w")
        two = ray_run(TrainConfig(num_workers=2, batch_size=2 * args.batch, **base), shards, tmp / "runs", "bench-2w")
    ray.shutdown()
    overhead = plain["img_per_s"] / one["img_per_s"] - 1.0
    result = {
        "device": "cpu", "torch_threads_plain": 1, "cpus": 2, "steps": args.steps, "per_worker_batch": args.batch,
        "patch": args.patch, "model": "iotgan default (width/depth from SRGeneratorConfig), 4 channels, ×2",
        "plain_torch": plain, "trainer_1_worker": one, "trainer_2_workers": two,
        "overhead_1_worker": overhead, "overhead_target": 0.10, "speedup_2_vs_1": two["img_per_s"] / one["img_per_s"],
        "gpu": "not measured: no GPU on this machine",
        "note": "2 CPU cores shared with other processes; numbers are noisy",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"train_overhead: plain {plain['img_per_s']:.2f} img/s, TorchTrainer 1w {one['img_per_s']:.2f} img/s "
          f"(overhead {100 * overhead:+.1f}%, target ≤ 10%), 2w {two['img_per_s']:.2f} img/s "
          f"(×{result['speedup_2_vs_1']:.2f}) → {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
