"""Peak memory of enhancing a whole 512×512×300 CT volume: what an Enhancer replica holds for one such request.

    .venv/bin/python benchmarks/volume_memory.py [--slices 300] [--side 512] [--out results/volume_memory.json]

The Enhancer replica runs exactly ``EnhancePipeline.run`` (medray/serve/enhancer.py), so this runs it in a fresh
child process on the shipped ×2 weights and reads the process's peak RSS (``VmHWM`` in /proc/self/status):

1. after loading the model and one warm-up forward of a single 512² slice (the pipeline's per-forward pixel budget,
   ``InferenceOptions.max_pixels``, is one 512² slice, so this is the largest activation working set it ever has);
2. after enhancing the whole volume (float32 in, float32 out at twice the side).

The stated bound is ``warm peak + input bytes + output bytes + 10 %``: the volume's arrays are the only thing that
grows with the slice count. The volume is a real 512² head CT slice (pydicom's 693_J2KI.dcm) repeated to the
requested count: memory does not depend on the content.
Writes JSON + prints one line. The machine is shared: the load average is recorded.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/volume_memory.py` from the root

RESULTS = Path(__file__).parent / "results" / "volume_memory.json"


def _vm(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _volume(slices: int, side: int):
    """[slices, 1, side, side] float32 in [0, 1]: a real head CT slice (pydicom's 693_J2KI.dcm, CQ500, 512², HU)
    through the soft-tissue window, repeated ``slices`` times."""
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut

    from medray.imaging.normalise import normalise_ct

    ds = pydicom.dcmread(get_testdata_file("693_J2KI.dcm"))
    hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)[:side, :side]
    norm = normalise_ct(hu)
    out = np.empty((slices, 1, *norm.shape), np.float32)
    out[:, 0] = norm
    return out, "pydicom 693_J2KI.dcm (real CQ500 head CT slice, 512², soft-tissue window), repeated"


def _child(slices: int, side: int, q) -> None:
    import numpy as np
    import torch

    from medray import tasks
    from medray.pipelines.enhance import EnhancePipeline, EnhanceRequest
    from medray.weights import default_checkpoint

    ckpt = default_checkpoint("sr", 2)
    model = tasks.load(ckpt).model
    pipe = EnhancePipeline(model)
    alpha, _ = pipe.alpha(None)
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    pipe.run([EnhanceRequest(np.zeros((1, 1, side, side), np.float32), alpha)])
    warm_s = time.perf_counter() - t0
    warm = _vm("VmHWM")
    vol, source = _volume(slices, side)
    t0 = time.perf_counter()
    out = pipe.run([EnhanceRequest(vol, alpha)])[0]
    wall = time.perf_counter() - t0
    q.put({"checkpoint": str(ckpt), "source": source, "torch_threads": torch.get_num_threads(),
           "rss_after_load_bytes": base, "peak_after_warmup_bytes": warm, "warmup_slice_s": warm_s,
           "input_bytes": int(vol.nbytes), "output_bytes": int(out.nbytes), "output_shape": list(out.shape),
           "peak_bytes": _vm("VmHWM"), "wall_s": wall, "s_per_slice": wall / slices,
           "finite": bool(np.isfinite(out).all())})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    load0 = os.getloadavg()
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_child, args=(a.slices, a.side, q))
    p.start()
    r = q.get()
    p.join()
    bound = int(1.10 * (r["peak_after_warmup_bytes"] + r["input_bytes"] + r["output_bytes"]))
    res = {"benchmark": "volume_memory", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "volume": f"{a.side}x{a.side}x{a.slices}", "scale": 2, **r,
           "bound_bytes": bound, "bound_rule": "1.10 × (peak after a one-slice warm-up + input + output arrays)",
           "within_bound": r["peak_bytes"] <= bound,
           "machine": {"cpus": os.cpu_count(), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
                       "note": "shared machine: timings contended; memory figures are not"}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    gib = 2**30
    print(f"volume_memory: {res['volume']} CT ×2 peak RSS {r['peak_bytes'] / gib:.2f} GiB (bound "
          f"{bound / gib:.2f} GiB: warm {r['peak_after_warmup_bytes'] / gib:.2f} + in {r['input_bytes'] / gib:.2f} "
          f"+ out {r['output_bytes'] / gib:.2f}, +10 %) {'OK' if res['within_bound'] else 'OVER'}; "
          f"{r['s_per_slice']:.2f} s/slice (load {load0[0]:.0f}) → {a.out}")
    return 0 if res["within_bound"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
