"""``medray demo``: the whole product end to end on embedded defaults, on one machine, with no network.

demo data (real anatomy from PyPI packages) → ingest (Ray Data) → train IoT-GAN and the ghost cGAN (Ray Train,
2 CPU workers) → evaluate against bicubic/nearest on held-out patients → embedded broker + vitals simulator →
Serve apps → real HTTP requests → downstream classifier → ``OUT/report/index.html``. Everything it starts it
stops (or leaves running with ``--keep-serving``)."""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from medray.demo.stages import StageTracker

log = logging.getLogger("medray.demo")
STAGES = ["demo data", "ingest", "train IoT-GAN", "train cGAN", "evaluate", "real scans", "serve", "requests",
          "classifier", "report"]
DATA_LABEL = "demo: MNI152 anatomy (nilearn, real) with synthetic deformations, contrasts and lesions"


@dataclass(frozen=True)
class Budget:
    """How much work each stage does. ``quick`` fits ≈5 min on 2 cores, ``full`` ≈30 min."""

    patients: int
    slice_step: int  # ingest every k-th axial slice
    sr_steps: int  # upper bound on optimizer steps …
    cgan_steps: int
    sr_seconds: float | None  # … and on training wall time (stops at the first epoch end past it)
    cgan_seconds: float | None
    sr_warmup_epochs: int  # pixel-loss-only epochs before the adversarial term (common SR practice)
    batch_size: int
    patch: int
    eval_slices: int
    vitals_rounds: int
    classifier_epochs: int
    synth_per_class: int


QUICK = Budget(patients=5, slice_step=6, sr_steps=40, cgan_steps=30, sr_seconds=None, cgan_seconds=None,
               sr_warmup_epochs=1, batch_size=8, patch=64, eval_slices=24, vitals_rounds=2, classifier_epochs=6,
               synth_per_class=24)
FULL = Budget(patients=12, slice_step=2, sr_steps=100_000, cgan_steps=100_000, sr_seconds=660, cgan_seconds=300,
              sr_warmup_epochs=2, batch_size=16, patch=64, eval_slices=200, vitals_rounds=4, classifier_epochs=15,
              synth_per_class=150)


def _init_ray():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, namespace="medray-demo",
                 log_to_driver=False, configure_logging=False)
    return ray


def _train(out: Path, family: str, b: Budget, st):
    from medray.tasks import DEFAULT_KIND
    from medray.train.options import RunOptions, TrainConfig
    from medray.train.run import run_training

    model = DEFAULT_KIND[family]
    sr = family == "sr"
    steps, seconds = (b.sr_steps, b.sr_seconds) if sr else (b.cgan_steps, b.cgan_seconds)
    # the served super-resolver takes one grey image, so it is single-channel and sees every MR contrast as a
    # sample; the cGAN makes all four contrasts from a mask. Perceptual loss is off: no VGG19 weights ship.
    cfg = TrainConfig(model=model, n_channels=1 if sr else 4, channels_as_samples=sr, scale=2,
                      patch=b.patch if sr else 128, batch_size=b.batch_size, max_epochs=10_000, max_steps=steps,
                      time_budget_s=seconds, warmup_epochs=b.sr_warmup_epochs if sr else 0, num_workers=2,
                      patience=0, checkpoint_every=1, val_max_slices=16, loss={"perceptual": "none"} if sr else {},
                      generator={} if sr else {"width": 32})
    res = run_training(RunOptions(shards=out / "shards", name=f"demo-{model}", storage=out / "runs", train=cfg))
    m = res.metrics
    st.detail = (f"{m.get('step')} steps, {m.get('epoch')} epochs, val PSNR {m.get('val_psnr', float('nan')):.2f} dB "
                 "(perceptual loss off: no VGG19 weights ship with medray)" if sr else
                 f"{m.get('step')} steps, val PSNR {m.get('val_psnr', float('nan')):.2f} dB")
    return res


def run_demo(out: Path, quick: bool = False, keep_serving: bool = False) -> int:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    b = QUICK if quick else FULL
    t = StageTracker(STAGES)
    print(f"medray demo ({'quick' if quick else 'full'}) → {out}", flush=True)
    ctx: dict = {}

    def data(st):
        from medray.datasets.demo_corpus import make_demo_data

        m = make_demo_data(out / "data", patients=b.patients, seed=0)
        st.detail = f"{b.patients} patients + real DICOM"
        return m

    t.call("demo data", data)

    def ingest(st):
        from medray.ingest.deid import DEMO_SALT
        from medray.ingest.run import run_ingest

        _init_ray()
        s = run_ingest([out / "data"], out / "shards", scales=(2, 4), seed=0, vitals=out / "data" / "vitals.csv",
                       slice_step=b.slice_step, salt=DEMO_SALT)
        st.detail = f"{s.n_slices} slices {s.counts['slices_by_split']}, {s.n_rejects} refused"
        return s

    t.call("ingest", ingest, needs=("demo data",))
    ctx["sr"] = t.call("train IoT-GAN", lambda st: _train(out, "sr", b, st), needs=("ingest",))
    ctx["cgan"] = t.call("train cGAN", lambda st: _train(out, "synth", b, st), needs=("ingest",))

    def evaluate(st):
        from medray.evaluate.checkpoint import evaluate_checkpoint

        ckpt = ctx["sr"].best_checkpoint or ctx["sr"].checkpoint
        r = evaluate_checkpoint(ckpt, out / "shards", "test", out / "eval", max_slices=b.eval_slices,
                                data_label=DATA_LABEL)
        md, bi = r["methods"]["medray"]["psnr"]["mean"], r["methods"]["bicubic"]["psnr"]["mean"]
        st.detail = f"×2 test PSNR medray {md:.2f} dB vs bicubic {bi:.2f} dB on {r['n_slices']} slices"
        return r

    t.call("evaluate", evaluate, needs=("train IoT-GAN",))

    def real_scans(st):
        from medray.evaluate.realscan import evaluate_on_real_scans

        ckpt = ctx["sr"].best_checkpoint or ctx["sr"].checkpoint
        res = evaluate_on_real_scans(ckpt, out / "realscan")
        r = max(res.values(), key=lambda m: m["n_slices"])  # one split holds them (one scan per patient)
        md, bi = r["methods"]["medray"]["psnr"]["mean"], r["methods"]["bicubic"]["psnr"]["mean"]
        st.detail = f"×2 PSNR medray {md:.2f} dB vs bicubic {bi:.2f} dB on {r['n_slices']} real slices"
        return out / "realscan" / f"eval_{r['split']}" / "metrics.json"

    ctx["realscan"] = t.call("real scans", real_scans, needs=("train IoT-GAN",))
    from medray.demo.serving import run_requests, start_serving, stop_serving

    ctx["serving"] = t.call("serve", lambda st: start_serving(out, ctx["sr"], ctx.get("cgan"), st),
                            needs=("train IoT-GAN",))
    ctx["requests"] = t.call("requests", lambda st: run_requests(out, ctx["serving"], b, st), needs=("serve",))

    def classifier(st):
        from medray.evaluate.synth_eval import classifier_comparison

        r = classifier_comparison(out / "shards", ctx["cgan"].best_checkpoint or ctx["cgan"].checkpoint,
                                  synth_per_class=b.synth_per_class, epochs=b.classifier_epochs, out=out / "classifier")
        st.detail = ", ".join(f"{k}: {v:.1f} %" for k, v in r["ours"].items())
        return r

    ctx["classifier"] = t.call("classifier", classifier, needs=("train cGAN",))
    report = t.call("report", lambda st: _report(out, ctx, t))
    (out / "report").mkdir(parents=True, exist_ok=True)
    (out / "report" / "stages.json").write_text(json.dumps(t.rows(), indent=1))  # after every stage, report included
    print("\n" + t.summary_table(), flush=True)
    if report is not None:
        print(f"\nreport: {report}", flush=True)
    if keep_serving and ctx.get("serving"):
        print(f"serving at {ctx['serving'].url}/ (viewer), {ctx['serving'].url}/docs; Ctrl-C stops.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    stop_serving(ctx.get("serving"))
    _shutdown_ray()
    return 1 if t.failed() else 0


def _report(out: Path, ctx: dict, t: StageTracker) -> Path:
    from medray.demo.report import ReportInputs, write_report
    from medray.models.summary import model_summary

    rep = out / "report"
    rep.mkdir(parents=True, exist_ok=True)
    curves = [(caption, r.curves_png) for caption, r in
              (("IoT-GAN (super-resolution, ×2)", ctx.get("sr")), ("ghost U-Net cGAN (mask → MRI)", ctx.get("cgan")))
              if r is not None and r.curves_png]
    req = ctx.get("requests") or {}
    sweep = Path(os.environ.get("MEDRAY_ABLATION_TABLE", out / "sweep" / "results.md"))
    inp = ReportInputs(
        out_dir=rep, eval_metrics=out / "eval" / "metrics.json",
        eval_grids=sorted((out / "eval").glob("grid*.png"))[:4], loss_curves=curves,
        alpha_plot=req.get("alpha_plot"), alpha_csv=req.get("alpha_csv"), model_summary=model_summary(),
        ablation_md=sweep if sweep.is_file() else None, classifier=ctx.get("classifier"),
        synth_images=req.get("synth_images", []), data_manifest=out / "data" / "demo_manifest.json",
        stages=t.rows(), realscan_metrics=ctx.get("realscan"))
    return write_report(inp)


def _shutdown_ray():
    import ray

    if ray.is_initialized():
        ray.shutdown()
