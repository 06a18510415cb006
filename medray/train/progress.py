"""Training progress on the driver's console: one line per ``ray.train.report`` (epoch, step, losses, val PSNR,
elapsed, ETA) and a tqdm bar when the console is a terminal.

Ray Train V2 calls ``UserCallback.after_report`` in the *controller actor*, whose output reaches the console only
when Ray forwards actor logs (the demo turns that off). So the callback only forwards rank 0's metrics through a
``ray.util.queue.Queue`` (a zero-CPU actor), and a thread of the driver prints them.
"""
from __future__ import annotations

import queue as queue_mod
import sys
import threading
import time
from typing import Any

import ray
import ray.train
from tqdm import tqdm

_LOSS_KEYS = ("g_loss", "d_loss")  # first on the line; the other g_* terms follow


def fraction_done(m: dict, max_epochs: int | None, max_steps: int | None, time_budget_s: float | None,
                  elapsed_s: float) -> float | None:
    """How far the run is, by whichever of its limits is nearest (the one that will stop it first)."""
    parts = []
    if max_epochs:
        parts.append((int(m.get("epoch", 0)) + 1) / max_epochs)
    if max_steps and m.get("step") is not None:
        parts.append(int(m["step"]) / max_steps)
    if time_budget_s:
        parts.append(elapsed_s / time_budget_s)
    return min(1.0, max(parts)) if parts else None


def eta_s(fraction: float | None, elapsed_s: float) -> float | None:
    if fraction is None or fraction <= 0:
        return None
    return max(0.0, elapsed_s * (1.0 - fraction) / fraction)


def format_line(name: str, m: dict, max_epochs: int | None, max_steps: int | None,
                time_budget_s: float | None, elapsed_s: float) -> str:
    """``[medray train] NAME epoch 3/500 step 120/400 g_loss=… d_loss=… val PSNR 31.20 dB | 01:05 elapsed,
    ETA 02:10``."""
    epoch = int(m.get("epoch", 0))
    step = m.get("step")
    parts = [f"[medray train] {name} epoch {epoch + 1}" + (f"/{max_epochs}" if max_epochs else "")]
    if step is not None:
        parts.append(f"step {int(step)}" + (f"/{max_steps}" if max_steps else ""))
    losses = [k for k in _LOSS_KEYS if k in m] + sorted(k for k in m if k.startswith("g_") and k not in _LOSS_KEYS
                                                        and isinstance(m[k], (int, float)))
    parts += [f"{k}={float(m[k]):.4f}" for k in losses]
    if m.get("val_psnr") is not None:
        parts.append(f"val PSNR {float(m['val_psnr']):.2f} dB")
    eta = eta_s(fraction_done(m, max_epochs, max_steps, time_budget_s, elapsed_s), elapsed_s)
    when = f"{tqdm.format_interval(elapsed_s)} elapsed, ETA {'?' if eta is None else tqdm.format_interval(eta)}"
    return " ".join(parts) + " | " + when


class ProgressCallback(ray.train.UserCallback):
    """Runs in the Train controller: forwards rank 0's metrics of each report to the driver's queue."""

    def __init__(self, q):
        self.q = q

    def after_report(self, run_context, metrics: list[dict[str, Any]], checkpoint) -> None:
        if not metrics:
            return
        m = {k: v for k, v in metrics[0].items() if isinstance(v, (int, float, bool, str)) or v is None}
        try:
            self.q.put_nowait(m)
        except Exception:  # the console line is a courtesy: never fail a training run over it
            pass


class ConsoleProgress:
    """``with ConsoleProgress(name, cfg) as p: build_trainer(opts, callbacks=[p.callback]).fit()``."""

    def __init__(self, name: str, max_epochs: int | None = None, max_steps: int | None = None,
                 time_budget_s: float | None = None, file=None):
        self.name, self.max_epochs, self.max_steps, self.time_budget_s = name, max_epochs, max_steps, time_budget_s
        self.file = file if file is not None else sys.stderr
        self.lines: list[str] = []
        self._stop = threading.Event()

    @classmethod
    def for_config(cls, name: str, cfg, file=None) -> "ConsoleProgress":
        return cls(name, cfg.max_epochs, cfg.max_steps, cfg.time_budget_s, file)

    def __enter__(self) -> "ConsoleProgress":
        from ray.util.queue import Queue

        self.q = Queue(actor_options={"num_cpus": 0})
        self.callback = ProgressCallback(self.q)
        self.t0 = time.monotonic()  # the driver's clock: includes start-up, as a user waiting on the console sees it
        total = self.max_steps or self.max_epochs
        self.bar = tqdm(total=total, desc=self.name, unit="step" if self.max_steps else "epoch", file=self.file,
                        disable=None, leave=False, dynamic_ncols=True)  # disable=None: only on a terminal
        self._thread = threading.Thread(target=self._drain, name="medray-train-progress", daemon=True)
        self._thread.start()
        return self

    def _show(self, m: dict) -> None:
        elapsed = time.monotonic() - self.t0
        line = format_line(self.name, m, self.max_epochs, self.max_steps, self.time_budget_s, elapsed)
        self.lines.append(line)
        pos = int(m.get("step", 0)) if self.max_steps else int(m.get("epoch", 0)) + 1
        self.bar.update(max(0, min(pos, self.bar.total or pos) - self.bar.n))
        self.bar.write(line, file=self.file)
        self.file.flush()

    def _drain(self) -> None:
        while True:
            try:
                m = self.q.get(timeout=0.5)
            except queue_mod.Empty:
                if self._stop.is_set():
                    return
                continue
            except Exception:  # the queue actor died (Ray shut down under us): nothing more will come
                return
            self._show(m)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.bar.close()
        try:  # the queue is an actor: end it with the run
            ray.kill(self.q.actor)
        except Exception:
            pass
