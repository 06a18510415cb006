"""Kafka consumer-group member that keeps a VitalsCache current, at-least-once.

One background thread runs poll → parse → apply (one cache lock per batch) → dead-letter the invalid ones →
commit the batch's offsets. Offsets are committed only after the batch is in the cache and its dead letters
are flushed, so a crash anywhere in between re-delivers the batch on restart (the cache counts those as
duplicates) and nothing is lost. Auto-commit is off for the same reason.

Tansu (the embedded broker) holds a JoinGroup for about session_timeout/2, so the session timeout is kept
short; ``max_poll_interval_ms`` ≈ 3 s is also what tansu needs as rebalance timeout. Tansu answers
ListOffsets(latest) with a stale value, so lag is computed from the high watermark of fetch responses.

Whatever goes wrong with one record (undecodable, invalid, from the future) dead-letters that record and the
stream goes on; only a failure of the batch as a whole (cache, DLQ producer, broker) rewinds and retries it.
If that keeps failing, commits stop while messages wait: ``health_problem`` says so, and Serve's health check
restarts the replica instead of letting it retry for ever behind a green health check.

Sharding (``shard=Shard(i, n)``, medray/vitals/sharding.py): instead of joining a consumer group the member
assigns itself the partitions of rank ``i`` once the topic's metadata is known (no rebalances, so the partition →
replica map the ingress routes by never moves); offsets are still committed under ``group_id``, so a restarted
shard, or the same partitions under another N, resume from the last commit. A change in the topic's partition
count is picked up at the client's next metadata refresh (``metadata_max_age_ms``, 5 min).

Dead letters carry no PHI: topic/partition/offset, the reason code, and HMAC-SHA256 of the record key and of
the value under a secret (``dlq_secret``, else env ``MEDRAY_DLQ_HMAC_SECRET``), so an operator holding the
secret can match a letter to a message or to a patient id they already know; the raw bytes never leave.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from itertools import chain

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from medray.config import ConfigError, check_choice, check_range
from medray.vitals.cache import VitalsCache
from medray.vitals.schema import DLQ_TOPIC, VITALS_TOPIC, parse_records
from medray.vitals.sharding import Shard

log = logging.getLogger(__name__)


@dataclass
class ConsumerOptions:
    max_poll_records: int = 5000
    poll_timeout_ms: int = 100
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 3000
    auto_offset_reset: str = "earliest"
    fetch_max_bytes: int = 16 << 20
    fetch_max_wait_ms: int = 100  # how long an empty fetch waits on the broker: bounds staleness when idle
    delay_samples: int = 20000  # how many recent delivery delays stats() keeps for p50/p99
    max_future_skew_s: float = 300.0  # a reading stamped later than now + this is dead-lettered (future_ts)
    stall_after_s: float = 60.0  # unhealthy when no commit for this long while messages wait
    metadata_check_s: float = 30.0  # sharded: how often the topic's partition count is looked at again

    def __post_init__(self):
        check_range("max_poll_records", self.max_poll_records, 1, 100_000)
        check_range("poll_timeout_ms", self.poll_timeout_ms, 1, 60_000)
        check_range("session_timeout_ms", self.session_timeout_ms, 1000, 300_000)
        check_range("heartbeat_interval_ms", self.heartbeat_interval_ms, 100, self.session_timeout_ms - 1)
        check_range("max_poll_interval_ms", self.max_poll_interval_ms, 1000, 3_600_000)
        check_choice("auto_offset_reset", self.auto_offset_reset, ["earliest", "latest"])
        check_range("fetch_max_bytes", self.fetch_max_bytes, 1 << 16)
        check_range("fetch_max_wait_ms", self.fetch_max_wait_ms, 1, 10_000)
        check_range("delay_samples", self.delay_samples, 1)
        check_range("max_future_skew_s", self.max_future_skew_s, 0.0, 86_400.0)
        check_range("stall_after_s", self.stall_after_s, 1.0)
        check_range("metadata_check_s", self.metadata_check_s, 0.1)


class VitalsConsumer:
    """``start()`` runs the loop in a daemon thread; ``stop()`` finishes the current batch, commits, leaves."""

    def __init__(self, bootstrap: str, group_id: str, cache: VitalsCache, topic: str = VITALS_TOPIC,
                 dlq_topic: str = DLQ_TOPIC, options: ConsumerOptions | None = None,
                 dlq_secret: bytes | None = None, client_options: dict | None = None,
                 shard: Shard | None = None):
        self.bootstrap, self.group_id, self.cache = bootstrap, group_id, cache
        self.shard = shard  # None: a consumer-group member (subscribe); else explicit assignment by rank
        self.partitions_total: int | None = None  # the topic's partition count, once known (sharded)
        self._next_metadata_check = 0.0
        self._client_options = dict(client_options or {})  # SASL/TLS: medray.vitals.security
        self._dlq_secret = _dlq_secret(dlq_secret)
        self.topic, self.dlq_topic = topic, dlq_topic
        self.opts = options or ConsumerOptions()
        self._stop = threading.Event()
        self._crash = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: KafkaConsumer | None = None
        self._dlq: KafkaProducer | None = None
        self._delays: deque[float] = deque(maxlen=self.opts.delay_samples)
        self._lag: int | None = None
        self.counters: Counter[str] = Counter()
        self.last_error: str | None = None
        self.started_at: float | None = None
        self.last_commit_at: float | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "VitalsConsumer":
        if self._thread is not None:
            raise RuntimeError("VitalsConsumer already started")
        o = self.opts
        topics = () if self.shard is not None else (self.topic,)  # sharded: assigned in the loop
        self._consumer = KafkaConsumer(
            *topics, bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
            auto_offset_reset=o.auto_offset_reset, max_poll_records=o.max_poll_records,
            max_poll_interval_ms=o.max_poll_interval_ms, session_timeout_ms=o.session_timeout_ms,
            heartbeat_interval_ms=o.heartbeat_interval_ms, fetch_max_bytes=o.fetch_max_bytes,
            fetch_max_wait_ms=o.fetch_max_wait_ms,
            max_partition_fetch_bytes=max(1 << 20, o.fetch_max_bytes // 4), client_id=f"medray-vitals-{self.group_id}",
            **self._client_options)
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._run, name=f"vitals-consumer-{self.group_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful: the in-flight batch is applied and committed, then the group is left."""
        self._stop.set()
        self._join(timeout_s)

    def crash(self, timeout_s: float = 10.0) -> None:
        """Simulate a crash: the next batch is applied to the cache, its offsets are never committed, and the
        loop ends (the consumer group is left, as after a session timeout). The next member of the group gets
        that batch again. Used by tests and drills; with no traffic it stops after ``timeout_s``.
        """
        self._crash.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.stop(timeout_s)

    def _join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("vitals consumer thread did not stop within %.1fs", timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- the loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        c = self._consumer
        try:
            while not self._stop.is_set():
                try:
                    if self.shard is not None and time.monotonic() >= self._next_metadata_check:
                        self._assign(c)
                        if not c.assignment():
                            self._stop.wait(0.2)  # topic not there yet, or no partition for this rank
                            continue
                    records = c.poll(timeout_ms=self.opts.poll_timeout_ms)
                    if records:
                        self._handle(records)
                    self.cache.evict_idle()
                except Exception as e:  # the consumer must outlive broker hiccups and bugs in one batch
                    self.counters["errors"] += 1
                    self.last_error = f"{type(e).__name__}: {e}"[:300]
                    log.warning("vitals consumer error (will retry): %s", self.last_error)
                    self._stop.wait(0.5)
                self._update_lag(c)  # after a failed batch too: a stuck consumer must show its lag
        finally:
            try:
                c.close(autocommit=False)
            finally:
                if self._dlq is not None:
                    self._dlq.close(timeout=5)

    def _handle(self, records: dict) -> None:
        try:
            now = time.time()
            readings, bad = parse_records(chain.from_iterable(records.values()), now + self.opts.max_future_skew_s)
            self.cache.apply_batch(readings, now)
            self._delays.extend([now - r.ts_epoch for r in readings])
            if bad:
                self._dead_letter(bad)
                self.cache.record_invalid(e.reason for _, e in bad)
        except Exception:
            # The fetch position is already past this batch; a later commit would skip it. Rewind to the batch
            # start so it is delivered again (what got applied then counts as duplicates), then let _run back off.
            for tp, msgs in records.items():
                self._consumer.seek(tp, msgs[0].offset)
            raise
        self.counters["messages"] += len(readings) + len(bad)
        self.counters["batches"] += 1
        if self._crash.is_set():
            self._stop.set()
            return  # simulated crash: applied, never committed
        self._commit(records)

    def _commit(self, records: dict) -> None:
        """Commit the offsets after ``records``; called only once they are in the cache (drills kill here)."""
        # A failed commit (e.g. after a rebalance) loses nothing: the next owner starts at the last commit.
        self._consumer.commit({tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1) for tp, msgs in records.items()})
        self.last_commit_at = time.time()
        self.counters["commits"] += 1

    def _assign(self, c: KafkaConsumer) -> None:
        """Sharded: (re)assign this rank's partitions when the topic's partition count is new."""
        self._next_metadata_check = time.monotonic() + self.opts.metadata_check_s
        total = len(c.partitions_for_topic(self.topic))  # asks the broker when the topic is not known yet
        if total == 0:
            self._next_metadata_check = time.monotonic() + 0.5  # no such topic yet: look again soon
            return
        if total == self.partitions_total:
            return
        owned = self.shard.partitions(total)
        if not owned:
            log.warning("topic %s has %d partition(s): none for shard %d of %d", self.topic, total,
                        self.shard.index, self.shard.count)
        # Positions of kept partitions restart from the committed offsets: all of them, every batch commits.
        c.assign([TopicPartition(self.topic, p) for p in owned])
        self.partitions_total = total
        log.info("vitals shard %d/%d owns partitions %s of %s", self.shard.index, self.shard.count, owned, self.topic)

    def _dead_letter(self, bad: list) -> None:
        if self._dlq is None:
            self._dlq = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                                      client_id=f"medray-vitals-dlq-{self.group_id}", **self._client_options)
        for m, e in bad:
            key_h, value_h = self._hmac(m.key), self._hmac(m.value)
            body = {"reason": e.reason, "topic": m.topic, "partition": m.partition, "offset": m.offset,
                    "key_hmac_sha256": key_h, "value_hmac_sha256": value_h}
            self._dlq.send(self.dlq_topic, key=None if key_h is None else key_h.encode(),
                           value=json.dumps(body).encode(), headers=[("medray.reason", e.reason.encode())])
        self._dlq.flush(timeout=10)
        log.info("dead-lettered %d message(s): %s", len(bad), dict(Counter(e.reason for _, e in bad)))
        self.counters["dead_lettered"] += len(bad)

    def _hmac(self, data: bytes | None) -> str | None:
        return None if data is None else hmac.new(self._dlq_secret, data, hashlib.sha256).hexdigest()

    def _update_lag(self, c: KafkaConsumer) -> None:
        # Read the fetch position from the subscription state: the public ``position()`` may block on a
        # coordinator round trip, which the hot loop must not do every poll.
        lag, known = 0, False
        try:
            for tp in c.assignment():
                hw, pos = c.highwater(tp), c._subscription.position(tp)
                if hw is not None and pos is not None:
                    lag += max(0, hw - pos.offset)
                    known = True
        except (KeyError, AttributeError):  # partition revoked mid-iteration / client internals changed
            return
        self._lag = lag if known else None

    # ---- observation -------------------------------------------------------------------------------
    def assignment(self) -> set[TopicPartition]:
        """Partitions this member currently owns (empty until the group join completes)."""
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    def layout(self) -> dict:
        """What the ingress routes by: this member's rank, the topic's partition count and the owned partitions."""
        shard = self.shard or Shard()
        return {"topic": self.topic, "shard": shard.index, "shards": shard.count,
                "partitions": self.partitions_total, "owned": sorted(tp.partition for tp in self.assignment())}

    def health_problem(self, now: float | None = None) -> str | None:
        """Why this consumer is unhealthy, or None: its thread has ended, or commits have not advanced for
        ``stall_after_s`` while messages wait (a batch that fails again and again)."""
        if not self.running:
            return "vitals consumer thread has stopped"
        now = time.time() if now is None else now
        since = self.last_commit_at or self.started_at or now
        if self._lag and now - since > self.opts.stall_after_s:
            return (f"no commit for {now - since:.0f}s with {self._lag} message(s) waiting "
                    f"(last error: {self.last_error})")
        return None

    def delays(self) -> list[float]:
        """Recent delivery delays in seconds (apply time - reading ts), oldest first."""
        return list(self._delays)

    def stats(self) -> dict:
        """Counters, lag (messages behind the high watermark) and delivery delay (apply time - reading ts)."""
        delays = sorted(self._delays)

        def q(p: float) -> float | None:
            return delays[min(len(delays) - 1, int(p * len(delays)))] if delays else None

        return {"group_id": self.group_id, "topic": self.topic, "running": self.running, "lag": self._lag,
                "delay_s_p50": q(0.50), "delay_s_p99": q(0.99), "delay_samples": len(delays),
                "last_commit_at": self.last_commit_at, "last_error": self.last_error,
                "health_problem": self.health_problem(),
                **{k: self.counters[k] for k in ("messages", "batches", "commits", "dead_lettered", "errors")},
                "cache": self.cache.stats()}


def _dlq_secret(secret: bytes | None) -> bytes:
    if secret is None and os.environ.get("MEDRAY_DLQ_HMAC_SECRET"):
        secret = os.environ["MEDRAY_DLQ_HMAC_SECRET"].encode()
    if secret is None:
        # Still no PHI in the letters, but their hashes cannot be matched after this process ends.
        log.warning("no dead-letter HMAC secret configured (MEDRAY_DLQ_HMAC_SECRET); using a random one")
        return os.urandom(32)
    if len(secret) < 16:
        raise ConfigError(f"dlq_secret has {len(secret)} bytes; at least 16 are required")
    return secret


def committed_offsets(bootstrap: str, group_id: str, topic: str = VITALS_TOPIC) -> dict[int, int | None]:
    """Committed offset per partition of ``topic`` for ``group_id`` (tests and operators)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        parts = c.partitions_for_topic(topic) or set()
        return {p: c.committed(TopicPartition(topic, p)) for p in sorted(parts)}
    finally:
        c.close(autocommit=False)
