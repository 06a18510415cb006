"""`/v1/augment?mode=synthesize` from the shipped PixMed weights: distinct, seeded variants of one label map.

Starts the serving stack with no synthesis checkpoint (so the builder falls back to medray/weights/pixmed.pt) and
an untrained SR model (this check is about synthesis only), posts one held-out label-map PNG twice with the same
seed and once with another, and checks: the variants of one request differ, the same seed repeats byte for byte,
another seed differs. Writes benchmarks/results/pixmed_serve_check.json and the returned PNGs beside it.

    .venv/bin/python benchmarks/pixmed_serve_check.py --eval-shards /tmp/pm/sh_eval
"""
from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import time
import zipfile
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from medray.evaluate import pixmed_eval as E
from medray.serve.augment_zip import label_png
from medray.weights import default_checkpoint

RESULTS = Path(__file__).parent / "results"


def _post(url: str, token: str, body: bytes, n: int, seed: int) -> dict[str, np.ndarray]:
    r = requests.post(f"{url}/v1/augment", params={"mode": "synthesize", "n": n, "seed": seed}, data=body,
                      headers={"Content-Type": "image/png", "Authorization": f"Bearer {token}"}, timeout=600)
    r.raise_for_status()
    z = zipfile.ZipFile(io.BytesIO(r.content))
    return {name: (json.loads(z.read(name)) if name.endswith(".json") else np.asarray(Image.open(io.BytesIO(z.read(name)))))
            for name in z.namelist()}


def main() -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval-shards", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    shipped = default_checkpoint("synth")
    if shipped is None:
        raise SystemExit("no medray/weights/pixmed.pt: nothing shipped to check")
    _, maps = E.load_role(args.eval_shards)
    lab = maps[E.pick_grid_rows(maps, 1)[0]]
    body = label_png(lab)
    token = secrets.token_urlsafe(24)
    os.environ["MEDRAY_API_TOKEN"] = token

    from medray.ports import free_port
    from medray.serve.stack import serving_stack

    t0 = time.perf_counter()
    one = {"ray_actor_options": {"num_cpus": 0.1}}
    with serving_stack(port=free_port(), host="127.0.0.1", args={"allow_untrained": True},
                       deployments={k: one for k in ("MedrayIngress", "Enhancer", "Synthesizer", "VitalsService")}) as st:
        models = requests.get(f"{st.url}/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
        a = _post(st.url, token, body, 3, 5)
        b = _post(st.url, token, body, 3, 5)
        c = _post(st.url, token, body, 3, 6)
    syn = lambda d: [d[k] for k in sorted(d) if k.startswith("synthetic_")]  # noqa: E731
    va, vb, vc = syn(a), syn(b), syn(c)
    args.out.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(va):
        Image.fromarray(img).save(args.out / f"pixmed_serve_variant_{i}.png")
    diffs = [float(np.abs(va[i].astype(float) - va[j].astype(float)).mean() / 65535)
             for i in range(3) for j in range(i + 1, 3)]
    result = {
        "weights": str(shipped), "synthesizer": models.get("synthesizer"), "label_values": sorted(int(v) for v in np.unique(lab)),
        "n": 3, "variants_distinct": all(d > 0 for d in diffs), "mean_abs_pairwise_diff": diffs,
        "same_seed_repeats": all(np.array_equal(x, y) for x, y in zip(va, vb)),
        "other_seed_differs": not all(np.array_equal(x, y) for x, y in zip(va, vc)),
        "manifest": a["manifest.json"], "wall_s": round(time.perf_counter() - t0, 1),
    }
    (args.out / "pixmed_serve_check.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"pixmed_serve_check: {result['synthesizer'] and result['synthesizer'].get('version')}: 3 variants distinct "
          f"{result['variants_distinct']}, same seed repeats {result['same_seed_repeats']}, other seed differs "
          f"{result['other_seed_differs']} ({result['wall_s']} s)")
    return result


if __name__ == "__main__":
    main()
