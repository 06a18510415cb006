"""Drill: a Ray Train worker SIGKILLed mid-epoch; the run resumes from its last checkpoint and ends where an
unkilled run ends.

    .venv/bin/python benchmarks/drill_train_kill.py                    # 5 epochs, kill in epoch 2, noise run on
    .venv/bin/python benchmarks/drill_train_kill.py --epochs 3 --kill-epoch 1 --no-noise-run --out /tmp/t.json

A tiny seeded IoT-GAN (width 8, depth 1) trains with 2 DDP workers on tiny seeded 1-channel shards
(tests/train_shards.py), checkpointing every epoch (``checkpoint_every=1``: the checkpoint interval is one
epoch), ``FailureConfig(max_failures=1)`` from medray's TrainConfig. Runs, in one Ray instance:

1. reference: unkilled, seed 0; 2. (``--noise-run``) unkilled, seed 1: the seed-to-seed spread of the final val PSNR,
   reported for scale (on this tiny model it is several dB, far too loose to judge by);
3. killed: seed 0; once epoch ``--kill-epoch - 1``'s checkpoint is in storage, part of an epoch later
   (``--kill-at`` of the reference's median epoch time after the first) one ``RayTrainWorker`` process
   (found by its title) gets SIGKILL.

Every report reaches the driver (medray.train.progress.ProgressCallback), so the epoch the run resumed at is
the first epoch reported after the kill. Pass: the kill landed mid-epoch (no checkpoint of the epoch in progress
was in storage), the run resumed at (last checkpointed epoch + 1), i.e. at most one checkpoint interval lost, it
finished every epoch, and |final val PSNR − reference| ≤ ``--tol-db`` (0.2 dB; an unkilled rerun of the same seed
lands on the same value, so the resumed run is expected to match closely).
Writes benchmarks/results/drill_train_kill.json.
"""
from __future__ import annotations

import argparse
import json
import os
import queue as queue_mod
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "drill_train_kill.json"
TINY = dict(n_channels=1, patch=32, batch_size=4, num_workers=2, val_max_slices=4, val_batch_size=2,
            generator={"width": 8, "depth": 1}, discriminator={"width": 8, "n_layers": 2}, checkpoint_every=1,
            max_failures=1, warmup_epochs=1, num_to_keep=None)


def train_workers() -> list[int]:
    """PIDs of this driver's Ray Train worker processes, by the title Ray gives them (the state API needs the
    dashboard, which this Ray runs without)."""
    from medray.serve.stack import _title, alive, descendants

    return sorted(p for p in descendants(os.getpid()) if alive(p) and _title(p).startswith("ray::RayTrainWorker"))


def run(shards: Path, storage: Path, name: str, seed: int, epochs: int, kill_epoch: int | None = None,
        kill_after_s: float = 0.0) -> dict:
    """One training run; reports are collected in order. With ``kill_epoch``: kill a worker ``kill_after_s``
    after the checkpoint of epoch ``kill_epoch - 1`` appears in storage (i.e. during epoch ``kill_epoch``)."""
    from ray.util.queue import Queue

    from medray.train.options import RunOptions, TrainConfig
    from medray.train.progress import ProgressCallback
    from medray.train.run import build_trainer

    q = Queue(actor_options={"num_cpus": 0})
    reports: list[tuple[float, dict]] = []
    kill: dict = {}
    stop = threading.Event()
    t0 = time.monotonic()

    def drain() -> None:
        while not stop.is_set() or not q.empty():
            try:
                reports.append((time.monotonic() - t0, q.get(timeout=0.2)))
            except (queue_mod.Empty, Exception):  # noqa: BLE001 - Empty, or the queue actor gone at the end
                if stop.is_set():
                    return

    def checkpoints() -> list[str]:
        return sorted(p.name for p in (storage / name).glob("checkpoint_*") if p.is_dir())

    def killer() -> None:
        # Every epoch writes a checkpoint (checkpoint_every=1, num_to_keep=None), as the last step of its report;
        # the driver hears of the report later than that, so the storage is the clock: once epoch kill_epoch-1's
        # checkpoint is there, epoch kill_epoch is starting.
        while not stop.is_set() and len(checkpoints()) < kill_epoch:
            time.sleep(0.02)
        t_seen = time.monotonic()
        while not stop.is_set() and time.monotonic() - t_seen < kill_after_s:
            time.sleep(0.02)
        workers = train_workers()
        if stop.is_set() or not workers:
            kill["error"] = "no worker alive to kill"
            return
        victim = workers[-1]  # the highest PID: any worker's death fails the group
        before = checkpoints()
        os.kill(victim, signal.SIGKILL)
        kill.update(t_s=time.monotonic() - t0, pid=victim, workers_alive=len(workers),
                    epochs_reported_before=[m["epoch"] for _, m in reports], checkpoints_at_kill=len(before),
                    epoch_in_progress=len(before), s_into_epoch=time.monotonic() - t_seen)

    cfg = TrainConfig(max_epochs=epochs, seed=seed, **TINY)
    threads = [threading.Thread(target=drain, daemon=True)]
    if kill_epoch is not None:
        threads.append(threading.Thread(target=killer, daemon=True))
    for t in threads:
        t.start()
    try:
        result = build_trainer(RunOptions(shards=shards, name=name, storage=storage, train=cfg),
                               callbacks=[ProgressCallback(q)]).fit()
    finally:
        time.sleep(1.0)  # the last report may still be in the queue
        stop.set()
        for t in threads:
            t.join(10)
        import ray
        ray.kill(q.actor)
    epochs_seen = [m["epoch"] for _, m in reports]
    last = reports[-1][1] if reports else {}
    out = {"name": name, "seed": seed, "wall_s": time.monotonic() - t0,
           "error": repr(result.error) if result.error else None,
           "epochs_reported": epochs_seen, "final_epoch": last.get("epoch"), "final_step": last.get("step"),
           "final_val_psnr": last.get("val_psnr"), "final_val_ssim": last.get("val_ssim"),
           "epoch_s": [round(m.get("epoch_s", 0.0), 2) for _, m in reports]}
    if kill_epoch is not None:
        # the first report after the kill that repeats an epoch or reaches the one in progress is the resumed
        # run's; a report of an earlier (already checkpointed) epoch may just arrive late
        seen = {m["epoch"] for t, m in reports if t <= kill.get("t_s", float("inf"))}
        resumed = None
        for t, m in reports:
            if kill.get("t_s") is None or t <= kill["t_s"]:
                continue
            if m["epoch"] in seen or m["epoch"] >= kill["epoch_in_progress"]:
                resumed = m["epoch"]
                break
            seen.add(m["epoch"])
        out["kill"] = kill
        out["resumed_at_epoch"] = resumed
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--kill-epoch", type=int, default=2, help="the epoch in progress when the worker is killed")
    ap.add_argument("--kill-at", type=float, default=0.4, help="fraction of an epoch after the previous report")
    ap.add_argument("--train-patients", type=int, default=8)
    ap.add_argument("--slices", type=int, default=8)
    ap.add_argument("--noise-run", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--tol-db", type=float, default=0.2, help="allowed |final val PSNR - unkilled| in dB")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    if not 1 <= a.kill_epoch < a.epochs:
        ap.error(f"--kill-epoch {a.kill_epoch} must be in [1, {a.epochs - 1}]")
    import ray

    from tests.train_shards import write_tiny_shards

    load0, t0 = os.getloadavg(), time.time()
    work = Path(tempfile.mkdtemp(prefix="medray-drill-train-"))
    shards = write_tiny_shards(work / "shards", splits=(("train", a.train_patients), ("val", 1)), slices=a.slices)
    # 4 logical CPUs on 2 cores, as tests/fixtures_ray.py: 2 workers + Ray Data read tasks must fit at once
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        ref = run(shards, work, "ref", 0, a.epochs)
        noise = run(shards, work, "noise", 1, a.epochs) if a.noise_run else None
        # the first epoch carries warm-up (Ray Data start, torch init): the median of the others is an epoch
        later = sorted(ref["epoch_s"][1:]) or ref["epoch_s"]
        epoch_s = later[len(later) // 2]
        killed = run(shards, work, "killed", 0, a.epochs, kill_epoch=a.kill_epoch, kill_after_s=epoch_s * a.kill_at)
    finally:
        ray.shutdown()
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    spread = abs(noise["final_val_psnr"] - ref["final_val_psnr"]) if noise else 0.0
    tol = a.tol_db
    k = killed.get("kill", {})
    last_ckpt_epoch = k.get("epoch_in_progress", 0) - 1  # every epoch is checkpointed (checkpoint_every=1)
    result = {
        "drill": "Ray Train worker killed mid-epoch, resumed from the last checkpoint",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"epochs": a.epochs, "kill_epoch": a.kill_epoch, "train_rows": a.train_patients * a.slices,
                   "model": "IoT-GAN width 8 depth 1",
                   **{k2: v for k2, v in TINY.items() if k2 not in ("generator", "discriminator")},
                   "checkpoint_interval_epochs": 1, "epoch_s_median": epoch_s, "kill_after_s": epoch_s * a.kill_at},
        "reference": ref, "noise_run": noise, "killed": killed,
        "kill_landed_mid_epoch": bool(k.get("pid")) and k.get("epoch_in_progress") == a.kill_epoch,
        "resumed_at_epoch": killed.get("resumed_at_epoch"), "last_checkpointed_epoch": last_ckpt_epoch,
        "epochs_lost": (k.get("epoch_in_progress", 0) - killed["resumed_at_epoch"]
                        if killed.get("resumed_at_epoch") is not None else None),
        "psnr_delta_db": (killed["final_val_psnr"] - ref["final_val_psnr"]
                          if killed.get("final_val_psnr") is not None else None),
        "seed_spread_db": spread if noise else None, "tolerance_db": tol,
        "restart_cost_s": killed["wall_s"] - ref["wall_s"],
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
                    "note": "2 cores shared with other engineers: contended"},
        "wall_s": time.time() - t0,
    }
    result["pass"] = bool(
        result["kill_landed_mid_epoch"] and killed["error"] is None and ref["error"] is None
        and result["resumed_at_epoch"] == last_ckpt_epoch + 1 and killed["final_epoch"] == a.epochs - 1
        and result["psnr_delta_db"] is not None and abs(result["psnr_delta_db"]) <= tol)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    def f(x, spec=".2f"):
        return "n/a" if x is None else format(x, spec)

    print(f"drill_train_kill {'PASS' if result['pass'] else 'FAIL'}: worker pid {k.get('pid')} killed "
          f"{f(k.get('s_into_epoch'), '.1f')} s into epoch {k.get('epoch_in_progress')} (checkpoints every epoch); "
          f"resumed at epoch {result['resumed_at_epoch']} (last checkpoint: epoch {last_ckpt_epoch}), "
          f"epochs lost {result['epochs_lost']}; final val PSNR {f(killed.get('final_val_psnr'))} dB vs "
          f"unkilled {f(ref['final_val_psnr'])} dB (Δ {f(result['psnr_delta_db'], '+.3f')}, "
          f"tolerance {tol:.2f} dB; seed-to-seed spread {f(spread if noise else None)} dB); restart cost "
          f"{killed['wall_s'] - ref['wall_s']:.0f} s of wall; load {os.getloadavg()[0]:.1f} -> {a.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
