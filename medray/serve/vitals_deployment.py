"""The vitals deployments: ``vitals_replicas`` shards, each one Kafka consumer (VitalsConsumer) feeding its own
VitalsCache, and ``VitalsShards``, the ingress's client that routes a lookup to the shard holding the patient.

Shard ``i`` is a deployment of its own named ``VitalsShard{i}`` (one replica each), built from this one class by
the app builder. Not one deployment with ``num_replicas: N``: Serve's replicas have no stable identity a handle
can route to, and a cache is only useful on the replica that consumed the patient's partition. Each shard
assigns itself the partitions ``p % N == i`` (medray/vitals/sharding.py) and commits under the shared group id,
so changing N in the config moves partitions to new owners that resume from the last commit.

Readings are returned as plain dicts (raw units, ISO timestamp, age). A patient whose four vitals have not all
arrived yet (FHIR sends them one Observation each) has no reading: ``latest`` is None, so α falls back to the
model default; the listing shows what is ``missing``."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time

from ray import serve

from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import VitalsConsumer
from medray.vitals.schema import VITALS_TOPIC
from medray.vitals.sharding import Shard, shard_for
from medray.vitals.security import KafkaSecurity

log = logging.getLogger(__name__)


def reading_dict(reading, now: float) -> dict:
    """VitalsReading → the JSON shape of GET /v1/vitals/{id} (age in seconds against ``now``)."""
    return {"patient_id": reading.patient_id, "ts": reading.ts_iso(), "heart_rate": reading.heart_rate,
            "spo2": reading.spo2, "temperature": reading.temperature, "mobility": reading.mobility,
            "age_s": max(0.0, now - reading.ts_epoch)}


SHARD_NAME = "VitalsShard{}"


# Defaults for every shard; a YAML entry named VitalsShard{i} overrides them for that shard.
@serve.deployment(num_replicas=1, max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.25})
class VitalsService:
    def __init__(self, bootstrap: str, group_id: str = "medray-serve", topic: str = VITALS_TOPIC,
                 kafka_security: dict | None = None, shard: int = 0, shards: int = 1):
        # kafka_security: KafkaSecurity fields (sasl_mechanism, sasl_username, sasl_password_file, ssl_cafile)
        security = KafkaSecurity(**(kafka_security or {}))
        self.cache = VitalsCache()
        self.consumer = VitalsConsumer(bootstrap, group_id, self.cache, topic=topic,
                                       client_options=security.client_options(), shard=Shard(shard, shards))
        self.consumer.start()
        log.info("vitals shard %d/%d started (topic %s, group %s)", shard, shards, topic, group_id)

    def layout(self) -> dict:
        """{"shard", "shards", "partitions" (None until the topic's metadata is in), "owned", "topic"}."""
        return self.consumer.layout()

    def patient_ids(self) -> list[str]:
        """Every cached patient id, sorted (the sharded listing merges these)."""
        return self.cache.patients()

    def rows(self, patient_ids: list[str]) -> list[dict]:
        return self.cache.rows(patient_ids, time.time())

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
        return {"consumer": self.consumer.stats(), "cache": self.cache.stats(), "layout": self.consumer.layout()}

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


class VitalsShards:
    """The ingress side: handles of the N shards; ``latest`` goes to the owner of the patient's partition
    (the producer's murmur2 partitioner), the listing merges every shard's sorted ids into one page."""

    def __init__(self, handles: list, layout_ttl_s: float = 30.0):
        if not handles:
            raise ValueError("VitalsShards needs at least one shard handle")
        self.handles = list(handles)
        self._ttl = layout_ttl_s
        self._partitions: int | None = None
        self._layout_at = float("-inf")

    async def partitions(self) -> int | None:
        """The topic's partition count as the shards see it (re-read every ``layout_ttl_s``; None until known)."""
        if self._partitions is None or time.monotonic() - self._layout_at > self._ttl:
            # a shard that is down (restarting) must not stop the routing to the others
            layouts = await asyncio.gather(*(h.layout.remote() for h in self.handles), return_exceptions=True)
            known = {lay["partitions"] for lay in layouts if isinstance(lay, dict) and lay["partitions"]}
            if len(known) > 1:  # a shard has not seen a partition increase yet: route by the newest count
                log.warning("vitals shards disagree on the partition count: %s", sorted(known))
            if known:
                self._partitions, self._layout_at = max(known), time.monotonic()
        return self._partitions

    async def owner(self, patient_id: str):
        """The handle of the shard holding ``patient_id``, or None while the partition count is unknown."""
        if len(self.handles) == 1:
            return self.handles[0]
        partitions = await self.partitions()
        return None if partitions is None else self.handles[shard_for(patient_id, partitions, len(self.handles))]

    async def latest(self, patient_id: str) -> dict | None:
        handle = await self.owner(patient_id)
        return None if handle is None else await handle.latest.remote(patient_id)

    async def page(self, offset: int, limit: int) -> dict:
        """One page of the merged listing, same shape as one shard's (ids sorted across all shards)."""
        if len(self.handles) == 1:
            return await self.handles[0].patients.remote(offset, limit)
        ids = await asyncio.gather(*(h.patient_ids.remote() for h in self.handles))
        tagged = heapq.merge(*([(pid, i) for pid in shard_ids] for i, shard_ids in enumerate(ids)))
        chosen = list(itertools.islice(tagged, offset, offset + limit))
        wanted: dict[int, list[str]] = {}
        for pid, i in chosen:
            wanted.setdefault(i, []).append(pid)
        got = await asyncio.gather(*(self.handles[i].rows.remote(pids) for i, pids in wanted.items()))
        by_id = {row["patient_id"]: row for rows in got for row in rows}
        # an id evicted between the two calls is left out of the page rather than shown without data
        return {"total": sum(map(len, ids)), "offset": offset, "limit": limit,
                "patients": [by_id[pid] for pid, _ in chosen if pid in by_id]}

    async def stats(self) -> dict:
        """Per-shard consumer + cache stats, and the totals an operator looks at first."""
        shards = await asyncio.gather(*(h.stats.remote() for h in self.handles))
        total = {k: sum(s["consumer"][k] or 0 for s in shards) for k in ("messages", "lag", "dead_lettered", "errors")}
        total["patients"] = sum(s["cache"]["patients"] for s in shards)
        total["duplicates"] = sum(s["cache"]["duplicates"] for s in shards)
        return {"shards": len(shards), **total, "per_shard": shards}
