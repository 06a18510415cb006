"""Which vitals shard owns a patient: Kafka's own partitioner, then partition → shard by rank.

The producer puts a patient's readings on partition ``murmur2(key) & 0x7fffffff % P`` (kafka-python's
``DefaultPartitioner``, the same formula as the Java client's), key = the patient id. Shard ``i`` of ``N`` owns
the partitions ``p`` with ``p % N == i`` (round-robin, so N shards split P partitions within one of each other).
The ingress routes a patient's lookup with exactly this arithmetic, so it must use the producer's hash: it
imports kafka-python's ``murmur2`` rather than carrying a copy that could drift.

Why explicit assignment and not a consumer group: a lookup has to reach the one replica whose cache holds the
patient, so the partition → replica map must be known to the router without asking the broker, and it must not
move while the service runs. A group rebalance moves partitions whenever a member joins, leaves or stalls, and
the cache of the partitions it moved would start empty on the new owner. With ranks, a restarted shard gets back
the same partitions and resumes from the group's committed offsets (the ``group_id`` is still used for commits).
"""
from __future__ import annotations

from dataclasses import dataclass

from kafka.partitioner.default import murmur2

from medray.config import ConfigError, check_range


def partition_for(key: bytes, partitions: int) -> int:
    """The partition kafka-python's DefaultPartitioner (and the Java client) gives a keyed record."""
    if partitions < 1:
        raise ConfigError(f"partitions={partitions}; a topic has at least 1")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class Shard:
    """Rank ``index`` of ``count`` vitals shards."""

    index: int = 0
    count: int = 1

    def __post_init__(self):
        check_range("shards", self.count, 1, 1024)
        if not 0 <= self.index < self.count:
            raise ConfigError(f"shard index {self.index} is out of range [0, {self.count - 1}]")

    def owns(self, partition: int) -> bool:
        return partition % self.count == self.index

    def partitions(self, total: int) -> list[int]:
        """The partitions of a ``total``-partition topic this shard consumes (may be empty if total < count)."""
        return [p for p in range(total) if self.owns(p)]


def shard_for(patient_id: str, partitions: int, shards: int) -> int:
    """Index of the shard that holds ``patient_id``'s readings."""
    return partition_for(patient_id.encode(), partitions) % shards
