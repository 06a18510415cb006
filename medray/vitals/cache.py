"""Per-patient vitals state: the latest value of each vital, a short rolling window, staleness and counters.

Written by one consumer thread a whole batch at a time (one lock acquisition per batch, so the HTTP side
never waits behind per-message locking) and read by any number of request threads.

Partial readings: a FHIR Observation carries one vital, a medray v1 message all four. The cache keeps the
newest value of each vital per patient and merges them; ``latest`` is that merge, and its ``ts`` is the
*oldest* of the four timestamps, so a vital that stopped arriving makes the merged reading go stale (and α fall
back to the model default) instead of conditioning on an old SpO2 next to a fresh heart rate. **Until all four
vitals of a patient have arrived, the patient has no reading**: ``latest`` is None (GET /v1/vitals/{id} says
404, enhance uses the default α), and ``partial`` / ``patients_page`` show which vitals are still missing.

Duplicates: delivery is at-least-once, so after a consumer restart the uncommitted tail is delivered again.
A reading is identified by (patient_id, ts) and, for a partial one, the vitals it carries. Per patient at most
``dedup_horizon`` keys are remembered, none older than ``dedup_horizon_s`` before the patient's newest
reading. A reading older than everything remembered cannot be told apart from a redelivery and can no longer
change the latest values or the window either, so it is counted as ``late`` and dropped.

Memory is bounded: a patient not heard from for ``ttl_s`` (wall clock) is evicted, and at most
``max_patients`` are kept (the least recently heard one goes first when a new one arrives).
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Callable, Iterable

from medray.config import check_range
from medray.vitals.fields import VITALS_FIELDS
from medray.vitals.schema import VitalsReading

_N = len(VITALS_FIELDS)


class _Patient:
    __slots__ = ("vals", "latest", "newest", "window", "seen", "seen_order", "floor", "applied_at", "heard_at")

    def __init__(self, window_max: int):
        self.vals: list[tuple | None] = [None] * _N  # per vital: (ts_epoch, reading) of its newest value
        self.latest: VitalsReading | None = None       # merge of ``vals`` once all are known
        self.newest = float("-inf")                     # newest ts applied, any vital
        self.window: deque[VitalsReading] = deque(maxlen=window_max)
        self.seen: set = set()
        self.seen_order: deque = deque()
        self.floor = float("-inf")  # newest timestamp forgotten from ``seen``
        self.applied_at = 0.0       # wall time the latest merged reading became visible
        self.heard_at = 0.0         # wall time of the last applied reading (TTL)


def _key_ts(key) -> float:
    return key if type(key) is float else key[0]


class VitalsCache:
    """Thread-safe latest values + rolling window per patient.

    window_s: readings newer than newest ts - window_s are kept (at most ``window_max`` of them).
    dedup_horizon / dedup_horizon_s: how many keys, and how far back, are remembered per patient.
    ttl_s: a patient with no reading applied for this long (wall clock) is evicted. max_patients: hard cap.
    """

    def __init__(self, window_s: float = 60.0, window_max: int = 600, dedup_horizon: int = 4096,
                 clock: Callable[[], float] = time.time, dedup_horizon_s: float = 3600.0, ttl_s: float = 900.0,
                 max_patients: int = 100_000):
        self.window_s = check_range("window_s", window_s, 0.0)
        self.window_max = int(check_range("window_max", window_max, 1))
        self.dedup_horizon = int(check_range("dedup_horizon", dedup_horizon, 1))
        self.dedup_horizon_s = check_range("dedup_horizon_s", dedup_horizon_s, 0.0)
        self.ttl_s = check_range("ttl_s", ttl_s, 1e-3)
        self.max_patients = int(check_range("max_patients", max_patients, 1))
        self._clock = clock
        self._lock = threading.Lock()
        self._patients: dict[str, _Patient] = {}
        self._next_sweep = float("-inf")
        self.applied = 0
        self.duplicates = 0
        self.late = 0
        self.invalid = 0
        self.evicted = 0
        self.invalid_by_reason: Counter[str] = Counter()

    # ---- writer side -------------------------------------------------------------------------------
    def apply_batch(self, readings: Iterable[VitalsReading], now: float | None = None) -> tuple[int, int]:
        """Apply readings under one lock; returns (applied, duplicates_or_late) for this batch."""
        now = self._clock() if now is None else now
        applied = dup = late = 0
        horizon, horizon_s, window_s = self.dedup_horizon, self.dedup_horizon_s, self.window_s
        with self._lock:
            self._sweep(now)
            patients = self._patients
            for r in readings:
                p = patients.get(r.patient_id)
                if p is None:
                    p = self._admit(r.patient_id, now)
                t = r.ts_epoch
                vec = r.as_vector()
                complete = None not in vec
                key = t if complete else (t, tuple(i for i, x in enumerate(vec) if x is not None))
                if key in p.seen:
                    dup += 1
                    continue
                if t <= p.floor:
                    late += 1
                    continue
                p.seen.add(key)
                order = p.seen_order
                order.append(key)
                newer = t > p.newest
                if newer:
                    p.newest = t
                cutoff = p.newest - horizon_s
                while len(order) > horizon or _key_ts(order[0]) < cutoff:
                    gone = order.popleft()
                    p.seen.discard(gone)
                    gone_ts = _key_ts(gone)
                    if gone_ts > p.floor:
                        p.floor = gone_ts
                applied += 1
                p.heard_at = now
                if complete and newer:  # the common medray v1 case: newest for every vital at once
                    p.vals = [(t, r)] * _N
                    p.latest = r
                    p.applied_at = now
                else:
                    vals, changed = p.vals, False
                    for i, x in enumerate(vec):
                        if x is not None and (vals[i] is None or t > vals[i][0]):
                            vals[i] = (t, r)
                            changed = True
                    if changed and None not in vals:
                        p.latest = _merge(r, vals)
                        p.applied_at = now
                w = p.window
                if not w or t >= w[-1].ts_epoch:
                    w.append(r)
                    lo = t - window_s
                    while w[0].ts_epoch < lo:
                        w.popleft()
                elif t >= w[-1].ts_epoch - window_s:
                    # Out of order but inside the window (e.g. two producers): keep the window sorted.
                    items = sorted([*w, r], key=_ts_key)
                    w.clear()
                    w.extend(items[-self.window_max:])
            self.applied += applied
            self.duplicates += dup
            self.late += late
        return applied, dup + late

    def evict_idle(self, now: float | None = None, force: bool = False) -> int:
        """Evict patients not heard from for ``ttl_s``. Without ``force`` this looks at most every ttl_s/4
        (cheap to call on every poll: the consumer does, so eviction happens with no traffic too)."""
        now = self._clock() if now is None else now
        with self._lock:
            if force:
                self._next_sweep = float("-inf")
            return self._sweep(now)

    def _sweep(self, now: float) -> int:
        if now < self._next_sweep:
            return 0
        self._next_sweep = now + min(self.ttl_s / 4, 60.0)
        cutoff = now - self.ttl_s
        idle = [pid for pid, p in self._patients.items() if p.heard_at < cutoff]
        for pid in idle:
            del self._patients[pid]
        self.evicted += len(idle)
        return len(idle)

    def _admit(self, pid: str, now: float) -> _Patient:
        if len(self._patients) >= self.max_patients:
            self._next_sweep = float("-inf")
            if not self._sweep(now):  # still full: the least recently heard patient makes room
                del self._patients[min(self._patients, key=lambda k: self._patients[k].heard_at)]
                self.evicted += 1
        p = self._patients[pid] = _Patient(self.window_max)
        return p

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

    def partial(self, patient_id: str) -> dict | None:
        """{vital: newest value or None} whether or not all four are known (None: patient never seen)."""
        with self._lock:
            p = self._patients.get(patient_id)
            if p is None:
                return None
            return {name: None if v is None else v[1].as_vector()[i]
                    for i, (name, v) in enumerate(zip(VITALS_FIELDS, p.vals))}

    def staleness_s(self, patient_id: str, now: float | None = None) -> float | None:
        """Seconds since the patient's latest merged reading was taken (None if never seen or incomplete)."""
        r = self.latest(patient_id)
        return None if r is None else (self._clock() if now is None else now) - r.ts_epoch

    def patients(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """Patient ids in sorted order, ``limit`` of them from ``offset`` (all when limit is None)."""
        check_range("offset", offset, 0)
        if limit is not None:
            check_range("limit", limit, 0)
        with self._lock:
            ids = sorted(self._patients)
        return ids[offset:] if limit is None else ids[offset:offset + limit]

    def patients_page(self, offset: int = 0, limit: int = 100, now: float | None = None) -> dict:
        """One page of the listing: ``{"total", "offset", "limit", "patients": [{patient_id, age_s, missing}]}``
        (``age_s`` of the merged reading, None while vitals are ``missing``)."""
        check_range("offset", offset, 0)
        check_range("limit", limit, 1, 1000)
        now = self._clock() if now is None else now
        with self._lock:
            ids = sorted(self._patients)
            rows = [self._row(pid, self._patients[pid], now) for pid in ids[offset:offset + limit]]
        return {"total": len(ids), "offset": offset, "limit": limit, "patients": rows}

    def rows(self, patient_ids: Iterable[str], now: float | None = None) -> list[dict]:
        """Listing rows of these patients, in the order given; ids no longer cached are left out (the
        sharded listing picks a page from every shard's ids, then asks each owner for its rows)."""
        now = self._clock() if now is None else now
        with self._lock:
            return [self._row(pid, p, now) for pid in patient_ids if (p := self._patients.get(pid)) is not None]

    @staticmethod
    def _row(pid: str, p: _Patient, now: float) -> dict:
        return {"patient_id": pid, "age_s": None if p.latest is None else now - p.latest.ts_epoch,
                "missing": [n for n, v in zip(VITALS_FIELDS, p.vals) if v is None]}

    def seen(self, patient_id: str) -> set[float]:
        """Timestamps (epoch s) currently remembered for duplicate detection (tests, audits)."""
        with self._lock:
            p = self._patients.get(patient_id)
            return set() if p is None else {_key_ts(k) for k in p.seen}

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
            xs = [x for x in (r.as_vector()[i] for r in window) if x is not None]
            summary[name] = {"mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)} if xs else None
        return {"patient_id": patient_id, "latest": latest.to_dict(), "staleness_s": now - latest.ts_epoch,
                "window": {"n": len(window), "seconds": self.window_s, **summary}}

    def stats(self, now: float | None = None) -> dict:
        """Counters plus the age of the newest reading per patient (max and median over patients)."""
        now = self._clock() if now is None else now
        with self._lock:
            ages = sorted(now - p.latest.ts_epoch for p in self._patients.values() if p.latest is not None)
            out = {"patients": len(self._patients), "applied": self.applied, "duplicates": self.duplicates,
                   "late": self.late, "evicted": self.evicted, "invalid": self.invalid,
                   "invalid_by_reason": dict(self.invalid_by_reason)}
        out["age_s_max"] = ages[-1] if ages else None
        out["age_s_median"] = ages[len(ages) // 2] if ages else None
        return out


def _ts_key(r: VitalsReading) -> float:
    return r.ts_epoch


def _merge(r: VitalsReading, vals: list) -> VitalsReading:
    """The merged reading: newest value of each vital, stamped with the oldest of their timestamps."""
    if all(v[1] is r for v in vals):  # a complete reading newer than anything else: itself
        return r
    oldest = min(vals, key=lambda v: v[0])[1]
    return VitalsReading(r.patient_id, oldest.ts, oldest.ts_epoch,
                         *(v[1].as_vector()[i] for i, v in enumerate(vals)))
