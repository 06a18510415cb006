"""`/v1/enhance` of a 512² CT DICOM end to end vs the model call alone, in one run (issue 15).

1. the model call alone: the enhance pipeline (the shipped ×2 IoT-GAN, medray/weights/iotgan_x2.pt, with the
   Serve config's inference options and the replica's torch threads) on the decoded slice, in this process;
2. POST /v1/enhance of the same DICOM over HTTP, sequential, one client: decode, normalise, α, the handle hop to
   the Enhancer replica, the forward, write-back and DICOM encode, and the answer read in full.
The two take turns (model call, request, model call, ...) while the stack is up and otherwise idle, so on a shared
machine both see the same spells of contention and their ratio stays meaningful.

The input is pydicom's CT_small.dcm (a real CT slice, 128²) resampled to 512² (linear, HU kept) and saved as a
512² CT DICOM: speed depends on the shape, not on the anatomy.

    nice -n 10 .venv/bin/python benchmarks/serve_ct.py [--n 10] [--threads 2] [--backend eager|onnx] [--dtype fp32|bf16]

Writes benchmarks/results/serve_ct.json (or --out) and prints one summary line. Targets (issue 15): HTTP p50 ≤ 1.0 s
and ≤ 1.15 × the model call's p50.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_harness import RESULTS, load_avg, medray_cluster, pct, sequential_latency  # noqa: E402

TARGET_S, TARGET_RATIO = 1.0, 1.15


def ct_dicom(side: int = 512) -> bytes:
    """CT_small.dcm resampled to side² (stored values, so HU = stored · slope + intercept still holds)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from skimage.transform import resize

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    px = ds.pixel_array
    big = resize(px.astype(np.float32), (side, side), order=1, preserve_range=True, anti_aliasing=False)
    ds.PixelData = np.round(big).astype(px.dtype).tobytes()
    f = px.shape[0] / side
    ds.Rows, ds.Columns = side, side
    ds.PixelSpacing = [float(v) * f for v in ds.PixelSpacing]
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def model_call(body: bytes, options: dict, threads: int):
    """A no-argument call running the enhance pipeline on the decoded slice, warmed up (oneDNN, ONNX export)."""
    import torch

    from medray import tasks
    from medray.config import from_dict
    from medray.pipelines.enhance import EnhancePipeline, InferenceOptions
    from medray.serve.codecs import CodecLimits, decode
    from medray.weights import default_checkpoint

    torch.set_num_threads(threads)
    model = tasks.load(default_checkpoint("sr", 2), family="sr").model
    pipe = EnhancePipeline(model, 16, from_dict(InferenceOptions, options, where="inference"))
    slices = decode("application/dicom", body, CodecLimits()).slices
    pipe(slices)
    return lambda: pipe(slices)


def ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10, help="timed calls per figure (after 2 warm-up requests)")
    p.add_argument("--threads", type=int, default=2, help="torch threads, here and in the Enhancer replica")
    p.add_argument("--backend", default="eager", help="InferenceOptions.backend: eager | onnx")
    p.add_argument("--dtype", default="fp32", help="InferenceOptions.dtype: fp32 | bf16 (eager only)")
    p.add_argument("--side", type=int, default=512)
    p.add_argument("--out", type=Path, default=RESULTS / "serve_ct.json")
    a = p.parse_args()
    options = {"backend": a.backend, "dtype": a.dtype}
    body = ct_dicom(a.side)
    load_before = load_avg()
    call = model_call(body, options, a.threads)
    hdr = {"Content-Type": "application/dicom"}
    model, http = [], []
    with medray_cluster(args={"torch_threads": a.threads, "inference": options}) as (url, _):
        s = requests.Session()
        sequential_latency(s, f"{url}/v1/enhance", body, hdr, 2)  # warm-up: the replica's first forward
        for _ in range(a.n):
            model.append(ms(call))
            http += sequential_latency(s, f"{url}/v1/enhance", body, hdr, 1)
        r = s.post(f"{url}/v1/enhance", data=body, headers=hdr, timeout=120)
        r.raise_for_status()
        answer = {"content_type": r.headers.get("content-type"), "bytes": len(r.content),
                  "alpha_source": r.headers.get("x-medray-alpha-source")}
    stat = lambda xs: {"p50_ms": round(pct(xs, 50), 1), "p90_ms": round(pct(xs, 90), 1), "n": len(xs)}  # noqa: E731
    res = {
        "input": f"{a.side}² CT DICOM ({len(body)} bytes; pydicom CT_small.dcm resampled), ×2, shipped iotgan_x2",
        "backend": a.backend, "dtype": a.dtype, "torch_threads": a.threads,
        "model_call": stat(model), "model_call_ms": [round(v, 1) for v in model],
        "http_enhance_ms": [round(v, 1) for v in http],
        "http_enhance": stat(http), "answer": answer,
        "http_over_model_p50": round(pct(http, 50) / pct(model, 50), 3),
        "targets": {"http_p50_s": TARGET_S, "http_over_model_p50": TARGET_RATIO},
        "load_avg_before": load_before, "load_avg_after": load_avg(),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"serve_ct ({a.side}² CT DICOM, {a.backend} {a.dtype}, {a.threads} threads, load {load_before[0]:.1f}): "
          f"HTTP p50 {pct(http, 50):.0f} ms (target ≤ {TARGET_S * 1e3:.0f}), model call p50 {pct(model, 50):.0f} ms "
          f"(interleaved), HTTP/model "
          f"{res['http_over_model_p50']:.2f}× (target ≤ {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
