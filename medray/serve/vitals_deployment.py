"""The vitals deployment: one Kafka consumer (VitalsConsumer) feeding a VitalsCache, queried by the ingress.

One replica on purpose: the cache must see every partition, and two members of one consumer group would
each see only part of the patients. Readings are returned as plain dicts (raw units, ISO timestamp, age)."""
from __future__ import annotations

import logging
import time

from ray import serve

from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import VitalsConsumer
from medray.vitals.schema import VITALS_TOPIC

log = logging.getLogger(__name__)


def reading_dict(reading, now: float) -> dict:
    """VitalsReading → the JSON shape of GET /v1/vitals/{id} (age in seconds against ``now``)."""
    return {"patient_id": reading.patient_id, "ts": reading.ts_iso(), "heart_rate": reading.heart_rate,
            "spo2": reading.spo2, "temperature": reading.temperature, "mobility": reading.mobility,
            "age_s": max(0.0, now - reading.ts_epoch)}


@serve.deployment(num_replicas=1)
class VitalsService:
    def __init__(self, bootstrap: str, group_id: str = "medray-serve", topic: str = VITALS_TOPIC):
        self.cache = VitalsCache()
        self.consumer = VitalsConsumer(bootstrap, group_id, self.cache, topic=topic)
        self.consumer.start()
        log.info("vitals consumer started (topic %s, group %s)", topic, group_id)

    def latest(self, patient_id: str) -> dict | None:
        reading = self.cache.latest(patient_id)
        if reading is None:
            return None
        now = time.time()
        out = reading_dict(reading, now)
        snap = self.cache.snapshot(patient_id, now)
        out["window"] = None if snap is None else snap["window"]
        return out

    def patients(self) -> list[dict]:
        now = time.time()
        return [{"patient_id": pid, "age_s": self.cache.staleness_s(pid, now)} for pid in self.cache.patients()]

    def stats(self) -> dict:
        return {"consumer": self.consumer.stats(), "cache": self.cache.stats()}

    def check_health(self) -> None:
        """Serve calls this periodically; a dead consumer thread makes the replica unhealthy → restarted."""
        if not self.consumer.running:
            raise RuntimeError("vitals consumer thread has stopped")

    def __del__(self):
        consumer = getattr(self, "consumer", None)
        if consumer is not None:
            consumer.stop()
