"""Simulated bedside/wearable vitals: per-patient baselines, mean-reverting random walks, episodes.

Each patient gets a seeded baseline (heart rate, SpO2, temperature, mobility). Every signal is an
Ornstein-Uhlenbeck walk around its baseline (wanders like a real trace, never drifts off), and episodes
are layered on top, with onsets drawn as Poisson events per patient:

- desaturation: SpO2 falls 5-12 points over ~20 s, holds, recovers; heart rate rises ~10 bpm with it;
- fever: temperature rises 1-2.5 °C over minutes; heart rate +10 bpm per °C (Liebermeister's rule);
- movement: mobility near 1 for 10-60 s; heart rate +15-30 bpm.

All time constants are in seconds, so statistics do not depend on the sampling rate. ``generate_readings``
is a pure function of its arguments (tests use it); ``run_simulator`` paces it in real time to Kafka, as
medray JSON v1 (one message per reading) or FHIR (one Observation per vital, four messages per reading).
"""
from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from medray.config import check_choice, check_range
from medray.vitals.fields import RANGES
from medray.vitals.schema import VITALS_TOPIC, VitalsReading, encode_message

log = logging.getLogger(__name__)

# Episode onsets per patient per hour, and (min, max) duration in seconds.
FORMATS = ("medray", "fhir")
EPISODES = {"desaturation": (6.0, (30.0, 120.0)), "fever": (1.0, (300.0, 900.0)), "movement": (12.0, (10.0, 60.0))}
_TAU = {"heart_rate": 30.0, "spo2": 20.0, "temperature": 300.0, "mobility": 5.0}   # OU relaxation time (s)
_SIGMA = {"heart_rate": 4.0, "spo2": 0.8, "temperature": 0.15, "mobility": 0.08}  # OU stationary std


@dataclass
class _Episode:
    kind: str
    start: float
    duration: float
    depth: float


def patient_ids(n: int) -> list[str]:
    """Pseudonymous ids P0001..; no real identifier ever enters the simulator."""
    return [f"P{i:04d}" for i in range(1, n + 1)]


def _baseline(rng: random.Random) -> dict[str, float]:
    return {"heart_rate": min(max(rng.gauss(74.0, 9.0), 52.0), 105.0),
            "spo2": min(max(rng.gauss(97.3, 1.0), 94.0), 99.5),
            "temperature": min(max(rng.gauss(36.8, 0.25), 36.1), 37.4),
            "mobility": rng.uniform(0.05, 0.35)}


def _ramp(t: float, ep: _Episode, rise: float) -> float:
    """0→1 over ``rise`` s, hold, 1→0 over ``rise`` s at the end (a trapezoid in time)."""
    x = t - ep.start
    if x < 0 or x > ep.duration:
        return 0.0
    return max(0.0, min(1.0, x / rise, (ep.duration - x) / rise))


def generate_readings(patients: int = 4, hz: float = 1.0, duration_s: float | None = 60.0,
                      count: int | None = None, seed: int = 0,
                      start: datetime | None = None) -> Iterator[VitalsReading]:
    """Yield readings tick by tick (all patients per tick) until ``duration_s`` or ``count`` is reached.

    Timestamps are ``start + k/hz`` (start defaults to 2026-01-01T00:00Z), so the output is deterministic.
    """
    check_range("patients", patients, 1, 100_000)
    check_range("hz", hz, 1e-3, 1000.0)
    if duration_s is None and count is None:
        raise ValueError("generate_readings needs duration_s or count (streams are bounded)")
    if duration_s is not None:
        check_range("duration_s", duration_s, 0.0)
    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    t0 = start.timestamp()
    dt = 1.0 / hz
    rng = random.Random(seed)
    ids = patient_ids(patients)
    base = [_baseline(rng) for _ in ids]
    state = [{k: 0.0 for k in _TAU} for _ in ids]  # OU deviations from baseline
    episodes: list[list[_Episode]] = [[] for _ in ids]
    # Exact OU discretisation: x' = a*x + s*N(0,1), stationary std = sigma for any dt.
    decay = {k: math.exp(-dt / tau) for k, tau in _TAU.items()}
    noise = {k: _SIGMA[k] * math.sqrt(1.0 - decay[k] ** 2) for k in _TAU}
    lo = {k: r[0] for k, r in RANGES.items()}
    hi = {k: r[1] for k, r in RANGES.items()}
    n, k = 0, 0
    while True:
        t = k * dt
        if duration_s is not None and t >= duration_s:
            return
        for i, pid in enumerate(ids):
            if count is not None and n >= count:
                return
            st, eps = state[i], episodes[i]
            for name in _TAU:
                st[name] = decay[name] * st[name] + noise[name] * rng.gauss(0.0, 1.0)
            for kind, (per_hour, (dmin, dmax)) in EPISODES.items():
                if rng.random() < per_hour / 3600.0 * dt and not any(e.kind == kind for e in eps):
                    depth = {"desaturation": rng.uniform(5.0, 12.0), "fever": rng.uniform(1.0, 2.5),
                             "movement": rng.uniform(0.6, 0.95)}[kind]
                    eps.append(_Episode(kind, t, rng.uniform(dmin, dmax), depth))
            eps[:] = [e for e in eps if t <= e.start + e.duration]
            v = {name: base[i][name] + st[name] for name in _TAU}
            for e in eps:
                if e.kind == "desaturation":
                    f = _ramp(t, e, 20.0)
                    v["spo2"] -= e.depth * f
                    v["heart_rate"] += 10.0 * f
                elif e.kind == "fever":
                    f = _ramp(t, e, min(240.0, e.duration / 3))
                    v["temperature"] += e.depth * f
                    v["heart_rate"] += 10.0 * e.depth * f
                else:
                    f = _ramp(t, e, 3.0)
                    v["mobility"] += (e.depth - v["mobility"]) * f
                    v["heart_rate"] += (15.0 + 15.0 * e.depth) * f
            clip = {name: min(max(v[name], lo[name]), hi[name]) for name in v}
            # Millisecond precision, like the wire format, so a reading round-trips to the same (patient, ts).
            ts = datetime.fromtimestamp(round((t0 + t) * 1000.0) / 1000.0, tz=timezone.utc)
            yield VitalsReading(pid, ts, ts.timestamp(), round(clip["heart_rate"]), round(min(clip["spo2"], 100.0)),
                                round(clip["temperature"], 1), round(clip["mobility"], 2))
            n += 1
        k += 1


def encode(reading: VitalsReading, fmt: str = "medray") -> list[tuple[bytes, bytes]]:
    """(key, value) records for one reading in ``fmt`` (see FORMATS)."""
    if fmt == "medray":
        return [encode_message(reading)]
    from medray.vitals.fhir import encode_observations

    return encode_observations(reading)


def run_simulator(bootstrap: str, patients: int = 4, hz: float = 1.0, duration_s: float | None = 60.0,
                  topic: str = VITALS_TOPIC, seed: int = 0, count: int | None = None,
                  realtime: bool = True, fmt: str = "medray", client_options: dict | None = None) -> dict:
    """Send simulated readings to Kafka (key = patient id). With ``realtime`` each tick is sent at its
    wall-clock time and stamped with it; otherwise as fast as the producer goes. ``fmt``: medray | fhir.
    ``client_options``: extra kafka-python settings (security, see ``medray.vitals.security``).
    Returns a summary; ``sent`` counts readings, ``messages`` Kafka records."""
    from kafka import KafkaProducer

    check_choice("format", fmt, FORMATS)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, client_id="medray-vitals-sim",
                             **(client_options or {}))
    wall0 = time.time()
    start = datetime.fromtimestamp(wall0, tz=timezone.utc)
    sent, messages, last_tick, behind = 0, 0, -1.0, 0.0
    try:
        for r in generate_readings(patients, hz, duration_s, count, seed, start):
            due = r.ts_epoch - wall0
            if realtime and due > last_tick:
                last_tick = due
                delay = wall0 + due - time.time()
                behind = max(behind, -delay)  # >0: this machine could not keep up with the tick rate
                if delay > 0:
                    producer.flush()  # a tick goes out together, then we wait for the next
                    time.sleep(delay)
            for key, value in encode(r, fmt):
                producer.send(topic, key=key, value=value)
                messages += 1
            sent += 1
        producer.flush()
    finally:
        producer.close(timeout=10)
    elapsed = time.time() - wall0
    log.info("vitals-sim: sent %d readings for %d patients to %s in %.1fs", sent, patients, topic, elapsed)
    if realtime and behind > 1.0 / hz:
        log.warning("vitals-sim fell up to %.2fs behind its schedule (CPU-bound?)", behind)
    return {"sent": sent, "messages": messages, "format": fmt, "patients": patients, "hz": hz, "topic": topic,
            "elapsed_s": elapsed, "max_behind_schedule_s": behind if realtime else None}
