"""The vitals deployment: one Kafka consumer (VitalsConsumer) feeding a VitalsCache, queried by the ingress.

One replica on purpose: the cache must see every partition, and two members of one consumer group would
each see only part of the patients. Readings are returned as plain dicts (raw units, ISO timestamp, age).
A patient whose four vitals have not all arrived yet (FHIR sends them one Observation each) has no reading:
``latest`` is None, so α falls back to the model default; the listing shows what is ``missing``."""
from __future__ import annotations

import logging
import time

from ray import serve

from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import VitalsConsumer
from medray.vitals.schema import VITALS_TOPIC
from medray.vitals.security import KafkaSecurity

log = logging.getLogger(__name__)


def reading_dict(reading, now: float) -> dict:
    """VitalsReading → the JSON shape of GET /v1/vitals/{id} (age in seconds against ``now``)."""
    return {"patient_id": reading.patient_id, "ts": reading.ts_iso(), "heart_rate": reading.heart_rate,
            "spo2": reading.spo2, "temperature": reading.temperature, "mobility": reading.mobility,
            "age_s": max(0.0, now - reading.ts_epoch)}


@serve.deployment(num_replicas=1)
class VitalsService:
    def __init__(self, bootstrap: str, group_id: str = "medray-serve", topic: str = VITALS_TOPIC,
                 kafka_security: dict | None = None):
        # kafka_security: KafkaSecurity fields (sasl_mechanism, sasl_username, sasl_password_file, ssl_cafile)
        security = KafkaSecurity(**(kafka_security or {}))
        self.cache = VitalsCache()
        self.consumer = VitalsConsumer(bootstrap, group_id, self.cache, topic=topic,
                                       client_options=security.client_options())
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

    def patients(self, offset: int = 0, limit: int = 100) -> dict:
        """One page of the patient listing (sorted ids): {"total", "offset", "limit", "patients": [...]}."""
        return self.cache.patients_page(offset, limit, time.time())

    def stats(self) -> dict:
        return {"consumer": self.consumer.stats(), "cache": self.cache.stats()}

    def check_health(self) -> None:
        """Serve calls this periodically; a dead consumer thread, or one whose commits have stopped while
        messages wait (a batch failing for ever), makes the replica unhealthy → restarted."""
        problem = self.consumer.health_problem()
        if problem is not None:
            raise RuntimeError(problem)

    def __del__(self):
        consumer = getattr(self, "consumer", None)
        if consumer is not None:
            consumer.stop()
