"""Per-patient vitals state: the latest reading, a short rolling window, staleness and counters.

Written by one consumer thread a whole batch at a time (one lock acquisition per batch, so the HTTP side
never waits behind per-message locking) and read by any number of request threads.

Duplicates: delivery is at-least-once, so after a consumer restart the uncommitted tail is delivered again.
A reading is identified by (patient_id, ts); the last ``dedup_horizon`` timestamps of each patient are
remembered. A reading older than everything remembered cannot be told apart from a redelivery and can no
longer change the latest value or the window either, so it is counted as ``late`` and dropped.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Callable, Iterable

from medray.config import check_range
from medray.vitals.schema import VITALS_FIELDS, VitalsReading


class _Patient:
    __slots__ = ("latest", "window", "seen", "seen_order", "floor", "applied_at")

    def __init__(self, window_max: int):
        self.latest: VitalsReading | None = None
        self.window: deque[VitalsReading] = deque(maxlen=window_max)
        self.seen: set[float] = set()
        self.seen_order: deque[float] = deque()
        self.floor = float("-inf")  # newest timestamp forgotten from ``seen``
        self.applied_at = 0.0       # wall time the latest reading became visible


class VitalsCache:
    """Thread-safe latest + rolling window per patient.

    window_s: readings newer than latest.ts - window_s are kept (at most ``window_max`` of them).
    dedup_horizon: timestamps remembered per patient for duplicate detection.
    """

    def __init__(self, window_s: float = 60.0, window_max: int = 600, dedup_horizon: int = 4096,
                 clock: Callable[[], float] = time.time):
        self.window_s = check_range("window_s", window_s, 0.0)
        self.window_max = int(check_range("window_max", window_max, 1))
        self.dedup_horizon = int(check_range("dedup_horizon", dedup_horizon, 1))
        self._clock = clock
        self._lock = threading.Lock()
        self._patients: dict[str, _Patient] = {}
        self.applied = 0
        self.duplicates = 0
        self.late = 0
        self.invalid = 0
        self.invalid_by_reason: Counter[str] = Counter()

    # ---- writer side -------------------------------------------------------------------------------
    def apply_batch(self, readings: Iterable[VitalsReading], now: float | None = None) -> tuple[int, int]:
        """Apply readings under one lock; returns (applied, duplicates_or_late) for this batch."""
        now = self._clock() if now is None else now
        applied = dup = late = 0
        horizon, window_s = self.dedup_horizon, self.window_s
        with self._lock:
            patients = self._patients
            for r in readings:
                p = patients.get(r.patient_id)
                if p is None:
                    p = patients[r.patient_id] = _Patient(self.window_max)
                t = r.ts_epoch
                if t in p.seen:
                    dup += 1
                    continue
                if t <= p.floor:
                    late += 1
                    continue
                p.seen.add(t)
                p.seen_order.append(t)
                if len(p.seen_order) > horizon:
                    old = p.seen_order.popleft()
                    p.seen.discard(old)
                    if old > p.floor:
                        p.floor = old
                applied += 1
                latest = p.latest
                if latest is None or t > latest.ts_epoch:
                    p.latest = r
                    p.applied_at = now
                    p.window.append(r)
                    lo = t - window_s
                    w = p.window
                    while w[0].ts_epoch < lo:
                        w.popleft()
                elif t >= latest.ts_epoch - window_s:
                    # Out of order but inside the window (e.g. two producers): keep the window sorted.
                    items = sorted([*p.window, r], key=_ts_key)
                    p.window.clear()
                    p.window.extend(items[-self.window_max:])
            self.applied += applied
            self.duplicates += dup
            self.late += late
        return applied, dup + late

    def record_invalid(self, reasons: Iterable[str]) -> None:
        """Count refused messages by reason code (they went to the dead-letter topic)."""
        reasons = list(reasons)
        with self._lock:
            self.invalid += len(reasons)
            self.invalid_by_reason.update(reasons)

    # ---- reader side -------------------------------------------------------------------------------
    def latest(self, patient_id: str) -> VitalsReading | None:
        with self._lock:
            p = self._patients.get(patient_id)
            return None if p is None else p.latest

    def window(self, patient_id: str) -> list[VitalsReading]:
        """Readings of the rolling window, oldest first (a copy)."""
        with self._lock:
            p = self._patients.get(patient_id)
            return [] if p is None else list(p.window)

    def staleness_s(self, patient_id: str, now: float | None = None) -> float | None:
        """Seconds since the patient's latest reading was taken (None if never seen)."""
        r = self.latest(patient_id)
        return None if r is None else (self._clock() if now is None else now) - r.ts_epoch

    def patients(self) -> list[str]:
        with self._lock:
            return sorted(self._patients)

    def seen(self, patient_id: str) -> set[float]:
        """Timestamps (epoch s) currently remembered for duplicate detection (tests, audits)."""
        with self._lock:
            p = self._patients.get(patient_id)
            return set() if p is None else set(p.seen)

    def snapshot(self, patient_id: str, now: float | None = None) -> dict | None:
        """JSON-ready view for ``GET /v1/vitals/{id}``: latest values, age, and window mean/min/max."""
        now = self._clock() if now is None else now
        with self._lock:
            p = self._patients.get(patient_id)
            if p is None or p.latest is None:
                return None
            latest, window = p.latest, list(p.window)
        summary = {}
        for i, name in enumerate(VITALS_FIELDS):
            xs = [r.as_vector()[i] for r in window]
            summary[name] = {"mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)}
        return {"patient_id": patient_id, "latest": latest.to_dict(), "staleness_s": now - latest.ts_epoch,
                "window": {"n": len(window), "seconds": self.window_s, **summary}}

    def stats(self, now: float | None = None) -> dict:
        """Counters plus the age of the newest reading per patient (max and median over patients)."""
        now = self._clock() if now is None else now
        with self._lock:
            ages = sorted(now - p.latest.ts_epoch for p in self._patients.values() if p.latest is not None)
            out = {"patients": len(self._patients), "applied": self.applied, "duplicates": self.duplicates,
                   "late": self.late, "invalid": self.invalid, "invalid_by_reason": dict(self.invalid_by_reason)}
        out["age_s_max"] = ages[-1] if ages else None
        out["age_s_median"] = ages[len(ages) // 2] if ages else None
        return out


def _ts_key(r: VitalsReading) -> float:
    return r.ts_epoch
