"""The demo's HTTP client: real requests through the public API, recording what the server said.

Only the documented endpoints and headers are used (DESIGN.md, HTTP), so this doubles as an example client.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from medray.vitals.fields import VITALS_FIELDS as VITALS


@dataclass
class AlphaRecord:
    patient_id: str
    alpha: float
    vitals_ts: str
    heart_rate: float | None
    spo2: float | None
    temperature: float | None
    mobility: float | None
    latency_ms: float


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def wait_healthy(base_url: str, timeout_s: float = 120.0) -> None:
    """Poll /healthz until it answers 200, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"{base_url}/healthz", timeout=5)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            last = type(e).__name__
        time.sleep(1.0)
    raise TimeoutError(f"{base_url}/healthz not healthy after {timeout_s:.0f}s (last: {last})")


def enhance(base_url: str, body: bytes, content_type: str, patient_id: str | None = None, scale: int = 2,
            alpha: float | None = None, token: str | None = None) -> requests.Response:
    params: dict[str, object] = {"scale": scale}
    if patient_id:
        params["patient_id"] = patient_id
    if alpha is not None:
        params["alpha"] = alpha
    return requests.post(f"{base_url}/v1/enhance", params=params, data=body,
                         headers={"Content-Type": content_type, **_auth(token)}, timeout=120)


def augment(base_url: str, body: bytes, mode: str, n: int = 4, seed: int = 0, token: str | None = None,
            content_type: str = "image/png") -> requests.Response:
    return requests.post(f"{base_url}/v1/augment", params={"mode": mode, "n": n, "seed": seed}, data=body,
                         headers={"Content-Type": content_type, **_auth(token)}, timeout=120)


def latest_vitals(base_url: str, patient_id: str, token: str | None = None) -> dict | None:
    r = requests.get(f"{base_url}/v1/vitals/{patient_id}", headers=_auth(token), timeout=10)
    return r.json() if r.status_code == 200 else None


def collect_alpha(base_url: str, patients: list[str], png: bytes, rounds: int = 3, pause_s: float = 1.0,
                  token: str | None = None) -> list[AlphaRecord]:
    """Enhance one PNG for each patient, several rounds apart, and record α against the vitals the server saw."""
    records: list[AlphaRecord] = []
    for _ in range(rounds):
        for pid in patients:
            v = latest_vitals(base_url, pid, token) or {}
            reading = v.get("latest", v)
            t0 = time.perf_counter()
            r = enhance(base_url, png, "image/png", patient_id=pid, token=token)
            ms = (time.perf_counter() - t0) * 1e3
            r.raise_for_status()
            records.append(AlphaRecord(
                patient_id=pid, alpha=float(r.headers["X-Medray-Alpha"]),
                vitals_ts=r.headers.get("X-Medray-Vitals-Ts", "missing"),
                **{k: (float(reading[k]) if reading.get(k) is not None else None) for k in VITALS},
                latency_ms=ms))
        time.sleep(pause_s)
    return records


def write_alpha_csv(records: list[AlphaRecord], path: Path) -> Path:
    buf = io.StringIO()
    fields = list(asdict(records[0]).keys()) if records else ["patient_id", "alpha"]
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for rec in records:
        w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in asdict(rec).items()})
    Path(path).write_text(buf.getvalue())
    return Path(path)


def plot_alpha_vs_vitals(records: list[AlphaRecord], path: Path) -> Path:
    """One scatter per vital sign, α on the y axis, coloured by patient."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
    patients = sorted({r.patient_id for r in records})
    for ax, key in zip(axes, VITALS):
        for pid in patients:
            pts = [(getattr(r, key), r.alpha) for r in records if r.patient_id == pid and getattr(r, key) is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.scatter(xs, ys, label=pid, s=22)
        ax.set_xlabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("α (X-Medray-Alpha)")
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle("α used by /v1/enhance vs the patient's latest streamed vitals")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
