"""Demo-data generation speed: ``make_demo_data`` for N patients in one process (target: 12 patients < 60 s on one core).

The target is judged on the process's CPU time (it is single-threaded, so that is its time on one core); wall
time is recorded beside it and equals CPU time on an idle core, but not on a shared, overloaded machine.

Also checks the determinism claim on the way: a second run with the same seed must give byte-identical NIfTI
arrays. The host's load average is recorded, since on a shared machine other processes take CPU.
Writes benchmarks/results/demo_data.json, prints one line.

    .venv/bin/python benchmarks/demo_data.py [--patients 12] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: it reads the variable then

import nibabel as nib
import numpy as np

from medray.datasets.demo_corpus import make_demo_data

TARGET_S = 60.0


def _arrays(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): np.asarray(nib.load(p).dataobj).tobytes()
            for p in sorted((root / "brats").rglob("*.nii.gz"))}


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "demo_data.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="medray-bench-demo-"))
    try:
        load_before = os.getloadavg()
        t0, c0 = time.perf_counter(), time.process_time()
        manifest = make_demo_data(work / "a", patients=args.patients, seed=args.seed)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        load_after = os.getloadavg()
        make_demo_data(work / "b", patients=args.patients, seed=args.seed)
        identical = _arrays(work / "a") == _arrays(work / "b")
        size = sum(p.stat().st_size for p in (work / "a").rglob("*") if p.is_file())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "patients": args.patients,
        "seed": args.seed,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "s_per_patient": round(wall / args.patients, 3),
        "target_cpu_s_for_12": TARGET_S,
        "meets_target_cpu": bool(cpu * 12 / args.patients < TARGET_S),
        "same_seed_identical_arrays": identical,
        "n_tumour_patients": sum(p["has_tumour"] for p in manifest["patients"]),
        "output_mb": round(size / 2**20, 1),
        "loadavg_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpu_count": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"demo-data: {args.patients} patients in {wall:.1f} s wall ({cpu:.1f} s CPU, "
          f"{result['s_per_patient']:.2f} s/patient, load {load_before[0]:.1f}); target <{TARGET_S:.0f} s CPU for 12: "
          f"{'met' if result['meets_target_cpu'] else 'MISSED'}; same seed identical: {identical}")
    return result


if __name__ == "__main__":
    main()
