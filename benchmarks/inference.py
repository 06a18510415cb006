"""Enhance-generator speed on this machine (issue 15), every figure from one run so the ratios sit side by side:

- the machine's fp32 matmul peak: a large ``torch.mm`` (GFLOP/s), sampled first, in every round and last; the
  highest counts (on a shared machine the lower ones are contention, not the hardware);
- the shipped ×2 IoT-GAN generator (medray/weights/iotgan_x2.pt) on one 256² and one 512² LR slice, per backend:
  ``eager`` (NCHW fp32 under no_grad: the path before issue 15), ``eager-cl`` (the enhance pipeline's default:
  inference_mode, channels-last), ``bf16`` (pipeline with bf16 autocast; only where the CPU has AVX-512 BF16/AMX
  or on a GPU), ``compiled`` (torch.compile of the channels-last generator; ``--no-compile`` skips it) and
  ``onnx`` (the pipeline's ONNX Runtime backend, medray/pipelines/onnx_backend.py);
- ms/slice (median and min of N after a warm-up; the backends take turns, round by round, so each sees the same
  contention), achieved GFLOP/s with FLOPs counted by torch's
  FlopCounterMode (the convolutions: 2 per multiply-add; the bicubic skip and element-wise ops are not counted)
  and its share of the matmul peak; max |difference| of each backend's output against ``eager``;
- the load average before and after: a contended machine says so (the project's box is 2 cores shared).

    nice -n 10 .venv/bin/python benchmarks/inference.py [--threads 2] [--repeats 5] [--sizes 256,512] [--no-compile]

Writes benchmarks/results/inference.json and prints one summary line. Target (issue 15): the generator at ≥ 40 %
of the measured matmul peak.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TARGET_SHARE = 0.40


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of the best of ``repeats`` n×n matmuls (2n³ FLOPs each)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def clock(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def has_cpu_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def backends(model, xt: torch.Tensor, x: np.ndarray, alpha: float, compile_: bool, bf16: bool) -> dict:
    """name → a call returning the SR slice as numpy; each backend on its own copy of the weights (the
    pipeline moves its model to channels-last in place)."""
    from medray.pipelines.enhance import EnhancePipeline, InferenceOptions

    plain = copy.deepcopy(model)

    def eager():
        with torch.no_grad():
            return plain(xt, None, alpha).clamp(0, 1).numpy()

    out = {"eager": eager}
    cl = EnhancePipeline(copy.deepcopy(model), options=InferenceOptions())
    out["eager-cl"] = lambda: cl(x, alpha=alpha)[0]
    if bf16:
        half = EnhancePipeline(copy.deepcopy(model), options=InferenceOptions(dtype="bf16"))
        out["bf16"] = lambda: half(x, alpha=alpha)[0]
    if compile_:
        compiled_model = torch.compile(copy.deepcopy(model).to(memory_format=torch.channels_last))
        xc = xt.contiguous(memory_format=torch.channels_last)

        def compiled():
            with torch.inference_mode():
                return compiled_model(xc, None, alpha).clamp(0, 1).numpy()

        out["compiled"] = compiled
    onnx = {}

    def onnx_call():  # the pipeline is built on first call so its export lands in the warm-up time
        if "p" not in onnx:
            onnx["p"] = EnhancePipeline(copy.deepcopy(model), options=InferenceOptions(backend="onnx"))
        return onnx["p"](x, alpha=alpha)[0]

    out["onnx"] = onnx_call
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="256,512", help="LR sides (the ×2 output is twice this)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes of C++ builds)")
    ap.add_argument("--out", type=Path, default=RESULTS / "inference.json")
    args = ap.parse_args(argv)

    from medray import tasks
    from medray.models.summary import count_flops
    from medray.weights import default_checkpoint

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    peaks = [matmul_peak()]
    ckpt = default_checkpoint("sr", 2)
    model = tasks.load(ckpt, family="sr").model.eval()
    bf16 = has_cpu_bf16() or torch.cuda.is_available()
    alpha = 0.5
    rows = []
    for side in [int(s) for s in args.sizes.split(",")]:
        x = np.random.default_rng(0).random((1, 1, side, side), dtype=np.float32)
        xt = torch.from_numpy(x)
        flops = count_flops(model, xt, None, alpha)
        calls, warm, outs = {}, {}, {}
        for name, fn in backends(model, xt, x, alpha, not args.no_compile, bf16).items():
            try:  # warm-up: oneDNN primitive creation, compilation, ONNX export; and the output compared
                t0 = time.perf_counter()
                outs[name] = fn()
                warm[name], calls[name] = time.perf_counter() - t0, fn
            except Exception as e:  # noqa: BLE001 - a backend that fails here is reported, the others still run
                rows.append({"backend": name, "lr_side": side, "error": f"{type(e).__name__}: {e}"[:300]})
                print(f"  {name:9s} {side}²: failed: {rows[-1]['error']}", flush=True)
        # round-robin: every backend (and the matmul peak) sees the same spells of contention on a shared box
        times = {name: [] for name in calls}
        for _ in range(args.repeats):
            peaks.append(matmul_peak(repeats=2))
            for name, fn in calls.items():
                times[name].append(clock(fn))
        ref = outs.get("eager")
        for name, ts in times.items():
            med, best = statistics.median(ts), min(ts)
            diff = float(np.abs(outs[name] - ref).max()) if ref is not None else None
            rows.append({"backend": name, "lr_side": side, "hr_side": side * 2, "ms_per_slice": round(med * 1e3, 1),
                         "ms_min": round(best * 1e3, 1), "warmup_s": round(warm[name], 2),
                         "gflops": round(flops / 1e9, 2), "gflop_per_s": round(flops / med / 1e9, 1),
                         "gflop_per_s_best": round(flops / best / 1e9, 1), "max_abs_diff_vs_eager": diff})
            print(f"  {name:9s} {side}²: {med * 1e3:8.1f} ms (min {best * 1e3:.1f}, warm-up {warm[name]:.1f} s) "
                  f"{flops / med / 1e9:6.1f} GFLOP/s  |Δ| {diff if diff is None else f'{diff:.1e}'}", flush=True)
    peaks.append(matmul_peak())
    peak = max(peaks)
    for r in rows:
        if "gflop_per_s" in r:
            r["share_of_peak"] = round(r["gflop_per_s"] / peak, 3)
            r["share_of_peak_best"] = round(r["gflop_per_s_best"] / peak, 3)
    import onnxruntime

    result = {
        "command": "benchmarks/inference.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "threads": args.threads, "cpu": cpu_name(), "cpu_bf16": has_cpu_bf16(), "gpu": torch.cuda.is_available(),
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        "matmul_peak_gflop_per_s": round(peak, 1), "matmul_peak_samples": [round(p, 1) for p in peaks],
        "model": str(ckpt.relative_to(ROOT)), "alpha": alpha, "rows": rows,
        "load_avg_before": [round(v, 2) for v in load_before], "load_avg_after": [round(v, 2) for v in os.getloadavg()],
        "flops_note": "FlopCounterMode: convolutions and transposed convolutions, 2 FLOPs per multiply-add",
        "targets": {"share_of_peak": TARGET_SHARE},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    parts = []
    for side in sorted({r["lr_side"] for r in rows}):
        ok = [r for r in rows if r["lr_side"] == side and "ms_per_slice" in r and r["backend"] != "bf16"]
        if ok:
            b = min(ok, key=lambda r: r["ms_per_slice"])
            e = next((r for r in ok if r["backend"] == "eager"), b)
            parts.append(f"{side}² best fp32 {b['backend']} {b['ms_per_slice']:.0f} ms ({b['share_of_peak']:.0%} of "
                         f"peak; eager {e['ms_per_slice']:.0f} ms)")
    print(f"inference: matmul peak {peak:.0f} GFLOP/s; " + "; ".join(parts)
          + f"; target ≥ {TARGET_SHARE:.0%}; load {load_before[0]:.1f}→{result['load_avg_after'][0]:.1f} "
            f"on {args.threads} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
