"""The demo's serving half: the serving stack (embedded broker + the Serve app from the package's config) + a
vitals simulator (a child process, stopped by PID), then real HTTP requests through the public API, saved under
``OUT/served``."""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIM_PATIENTS = 4


@dataclass
class Serving:
    url: str
    bootstrap: str
    simulator: subprocess.Popen | None
    patients: list[str] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)


def start_serving(out: Path, sr, cgan, st) -> Serving:
    """The serving stack (medray/serve/stack.py: embedded broker, topics, the package's Serve config) with the
    demo's checkpoints, then the vitals simulator streaming into its broker."""
    from medray.demo.client import wait_healthy
    from medray.ports import free_port
    from medray.serve.stack import serving_stack
    from medray.vitals.simulator import patient_ids

    (out / "logs").mkdir(parents=True, exist_ok=True)
    serving = Serving(url="", bootstrap="", simulator=None, patients=patient_ids(SIM_PATIENTS))
    try:
        synth = (cgan.best_checkpoint or cgan.checkpoint) if cgan is not None else None
        stack = serving._stack.enter_context(serving_stack(
            checkpoint=sr.best_checkpoint or sr.checkpoint, synth_checkpoint=synth, port=free_port(),
            host="127.0.0.1", args={"insecure_dev": True},  # a local demo: no token, loopback only
            broker_log=out / "logs" / "broker.log"))
        serving.url, serving.bootstrap = stack.url, stack.bootstrap
        # the simulator streams for longer than any demo needs; stop_serving ends it by PID
        serving.simulator = subprocess.Popen(
            [sys.executable, "-m", "medray.cli", "vitals-sim", "--bootstrap", stack.bootstrap, "--patients",
             str(SIM_PATIENTS), "--hz", "2", "--duration", "3600", "--seed", "7"],
            stdout=subprocess.DEVNULL, stderr=open(out / "logs" / "vitals-sim.log", "wb"))
        # recorded so anyone (and the end-to-end test) can check that everything started was stopped
        (out / "logs" / "pids.json").write_text(json.dumps({"broker": stack.pids["broker"][0],
                                                            "simulator": serving.simulator.pid}))
        wait_healthy(serving.url)
        _wait_vitals(serving)
        st.detail = f"{serving.url} (broker {stack.bootstrap}, {SIM_PATIENTS} simulated patients)"
        return serving
    except BaseException:
        stop_serving(serving)
        raise


def _wait_vitals(serving: Serving, timeout_s: float = 60.0) -> None:
    from medray.demo.client import latest_vitals

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(latest_vitals(serving.url, p) for p in serving.patients):
            return
        time.sleep(1.0)
    raise TimeoutError(f"no vitals for every simulated patient after {timeout_s:.0f}s")


def stop_serving(serving: Serving | None) -> None:
    """The simulator first (by PID), then the stack: Serve, and the broker and Serve workers by PID."""
    if serving is None:
        return
    try:
        if serving.simulator is not None and serving.simulator.poll() is None:
            serving.simulator.terminate()
            try:
                serving.simulator.wait(10)
            except subprocess.TimeoutExpired:
                serving.simulator.kill()
                serving.simulator.wait(10)
    finally:
        serving._stack.close()


def _sample_inputs(out: Path) -> dict:
    """A held-out test slice at ×2 LR as 16-bit PNG and as a small NIfTI volume; a real DICOM; a tumour mask."""
    import nibabel as nib
    from PIL import Image

    from medray.shards.decode import decode_batch, table_to_batch
    from medray.shards.local import read_rows_local

    table = read_rows_local(out / "shards", "test", scale=2, n_channels=4, limit=400)
    batch = decode_batch(table_to_batch(table), 4, 2)
    tumour = np.flatnonzero(batch["mask"].reshape(len(table), -1).max(1) > 0)
    i = int(tumour[len(tumour) // 2]) if len(tumour) else len(table) // 2
    lr = batch["lr"][i, 0]
    buf = io.BytesIO()
    Image.fromarray(np.rint(lr * 65535).astype(np.uint16)).save(buf, format="PNG")
    vol = np.stack([batch["lr"][j, 0] for j in range(max(0, i - 2), min(len(table), i + 2))], axis=-1)
    nii = nib.Nifti1Image(vol.astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    nii_bytes = gzip.compress(nii.to_bytes())
    mbuf = io.BytesIO()
    Image.fromarray(batch["mask"][i].astype(np.uint8)).save(mbuf, format="PNG")
    dicom = sorted((out / "data" / "dicom").rglob("MR_small*.dcm"))
    return {"png": buf.getvalue(), "nii": nii_bytes, "mask_png": mbuf.getvalue(),
            "dicom": dicom[0].read_bytes() if dicom else None}


def run_requests(out: Path, serving: Serving, budget, st) -> dict:
    """Enhance (PNG for several patients, NIfTI, DICOM) and augment (classic, synthesize) through HTTP."""
    import zipfile

    from medray.demo import client

    served = out / "served"
    served.mkdir(parents=True, exist_ok=True)
    inputs = _sample_inputs(out)
    records = client.collect_alpha(serving.url, serving.patients, inputs["png"], rounds=budget.vitals_rounds)
    alpha_csv = client.write_alpha_csv(records, served / "alpha_vs_vitals.csv")
    alpha_plot = client.plot_alpha_vs_vitals(records, served / "alpha_vs_vitals.png")
    log = [{"request": "enhance png", "patient": r.patient_id, "alpha": r.alpha, "ms": round(r.latency_ms, 1)}
           for r in records]
    (served / "input_lr.png").write_bytes(inputs["png"])
    r = client.enhance(serving.url, inputs["png"], "image/png", patient_id=serving.patients[0])
    r.raise_for_status()
    (served / "enhanced.png").write_bytes(r.content)
    for name, body, ctype in (("nifti", inputs["nii"], "application/gzip"),
                              ("dicom", inputs["dicom"], "application/dicom")):
        if body is None:
            continue
        r = client.enhance(serving.url, body, ctype, patient_id=serving.patients[1])
        r.raise_for_status()
        (served / f"enhanced.{'nii.gz' if name == 'nifti' else 'dcm'}").write_bytes(r.content)
        log.append({"request": f"enhance {name}", "status": r.status_code, "alpha": r.headers.get("X-Medray-Alpha")})
    synth_images = []
    for mode in ("classic", "synthesize"):
        body = inputs["png"] if mode == "classic" else inputs["mask_png"]
        r = client.augment(serving.url, body, mode, n=4, seed=0)
        r.raise_for_status()
        (served / f"augment_{mode}.zip").write_bytes(r.content)
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        log.append({"request": f"augment {mode}", "status": r.status_code, "files": len(names)})
        if mode == "synthesize":
            synth_images.append(_synth_sheet(r.content, served / "synthesized.png"))
    (served / "requests.json").write_text(json.dumps(log, indent=1))
    alphas = sorted({round(rec.alpha, 3) for rec in records})
    st.detail = f"{len(log)} requests; α over patients {alphas[0]}–{alphas[-1]}"
    return {"alpha_csv": alpha_csv, "alpha_plot": alpha_plot, "synth_images": synth_images, "log": log}


def _synth_sheet(zip_bytes: bytes, path: Path) -> Path:
    """Masks and their synthetic slices from an augment zip, side by side in one PNG."""
    import zipfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    z = zipfile.ZipFile(io.BytesIO(zip_bytes))
    masks = sorted(n for n in z.namelist() if n.startswith("mask_"))
    fig, axes = plt.subplots(2, len(masks), figsize=(3 * len(masks), 6), squeeze=False)
    for k, m in enumerate(masks):
        idx = m[len("mask_"):-4]
        synth = sorted(n for n in z.namelist() if n.startswith(f"synthetic_{idx}"))
        axes[0, k].imshow(np.asarray(Image.open(z.open(m))), cmap="viridis", vmin=0, vmax=4)
        axes[0, k].set_title(f"mask {idx}")
        axes[1, k].imshow(np.asarray(Image.open(z.open(synth[-1]))), cmap="gray")
        axes[1, k].set_title(synth[-1].removesuffix(".png"))
        for ax in axes[:, k]:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
