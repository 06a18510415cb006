"""Partition-sharded vitals: the ingress routes by the producer's own partitioner, shards own disjoint partitions,
resume from the group's commits when N changes, and the listing merges the shards' pages."""
import asyncio
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer
from kafka.partitioner import DefaultPartitioner

from medray.config import ConfigError
from medray.serve.vitals_deployment import VitalsService, VitalsShards
from medray.vitals.broker import ensure_topics
from medray.vitals.cache import VitalsCache
from medray.vitals.consumer import ConsumerOptions, VitalsConsumer, committed_offsets
from medray.vitals.schema import encode_message
from medray.vitals.sharding import Shard, partition_for, shard_for
from medray.vitals.simulator import generate_readings


class _Cluster:  # the part of kafka-python's ClusterMetadata its DefaultPartitioner reads
    def __init__(self, n):
        self.n = n

    def topics(self):
        return {"t"}

    def partitions_for_topic(self, _topic):
        return set(range(self.n))

    available_partitions_for_topic = partitions_for_topic


@pytest.mark.parametrize("partitions", [1, 3, 8, 12, 64])
def test_routing_equals_kafka_pythons_partitioner(partitions):
    rng, dp = random.Random(partitions), DefaultPartitioner()
    keys = [f"P{rng.randrange(10**7):07d}".encode() for _ in range(3000)] + [b"", b"a", b"\xff\xfe\x00x"]
    assert [partition_for(k, partitions) for k in keys] == \
        [dp.partition("t", k, k, b"v", b"v", _Cluster(partitions)) for k in keys]


def test_shards_split_partitions_disjointly_and_completely():
    for total in (1, 8, 13):
        for n in (1, 2, 3, 4, 8):
            owned = [Shard(i, n).partitions(total) for i in range(n)]
            assert sorted(p for ps in owned for p in ps) == list(range(total))
            assert max(map(len, owned)) - min(map(len, owned)) <= 1
    with pytest.raises(ConfigError, match="shard index 2"):
        Shard(2, 2)


def _produce(bootstrap, topic, readings):
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    futures = [(r.patient_id, p.send(topic, key=k, value=v)) for r in readings for k, v in [encode_message(r)]]
    p.flush()
    p.close()
    return [(pid, f.get().partition) for pid, f in futures]


def _wait(cond, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_shards_own_their_patients_and_resume_from_commits_when_n_changes(kafka_bootstrap, unique_topic):
    topic, group = unique_topic, "g-" + uuid.uuid4().hex[:6]
    ensure_topics(kafka_bootstrap, [topic, topic + ".dlq"], partitions=8)
    first = list(generate_readings(patients=30, hz=1, count=600, seed=4))
    placed = _produce(kafka_bootstrap, topic, first)
    assert all(p == partition_for(pid.encode(), 8) for pid, p in placed)  # the real producer agrees

    def run(n, expect):
        shards = [VitalsConsumer(kafka_bootstrap, group, VitalsCache(), topic, topic + ".dlq", ConsumerOptions(),
                                 dlq_secret=b"k" * 16, shard=Shard(i, n)).start() for i in range(n)]
        try:
            _wait(lambda: sum(s.cache.applied for s in shards) >= expect)
            time.sleep(0.3)  # nothing more may arrive: each reading went to exactly one shard
        finally:
            for s in shards:
                s.stop()
        return shards

    two = run(2, 600)
    assert [s.layout()["owned"] for s in two] == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert sum(s.cache.applied for s in two) == 600 and sum(s.cache.duplicates for s in two) == 0
    for pid in {r.patient_id for r in first}:
        owner = shard_for(pid, 8, 2)
        assert two[owner].cache.latest(pid) is not None and two[1 - owner].cache.latest(pid) is None
    assert sum(v or 0 for v in committed_offsets(kafka_bootstrap, group, topic).values()) == 600

    _produce(kafka_bootstrap, topic, generate_readings(patients=30, hz=1, count=300, seed=5,
                                                       start=first[-1].ts + timedelta(minutes=1)))
    three = run(3, 300)  # N changed: new owners start at the committed offsets, not at the beginning
    assert sum(s.cache.applied for s in three) == 300
    assert sum(v or 0 for v in committed_offsets(kafka_bootstrap, group, topic).values()) == 900


class _Method:
    def __init__(self, fn):
        self.fn = fn

    def remote(self, *a):
        async def call():
            return self.fn(*a)
        return call()


class _Handle:  # a DeploymentHandle's shape over a real VitalsService body
    def __init__(self, service):
        for name in ("latest", "patients", "patient_ids", "rows", "layout", "stats"):
            setattr(self, name, _Method(getattr(service, name)))


class _Consumer:
    def __init__(self, shard, partitions):
        self.shard, self.partitions = shard, partitions

    def layout(self):
        return {"shard": self.shard.index, "shards": self.shard.count, "partitions": self.partitions}

    def stats(self):
        return {k: 0 for k in ("messages", "lag", "dead_lettered", "errors")}


def _service(shard, partitions, readings):
    s = VitalsService.func_or_class.__new__(VitalsService.func_or_class)
    s.cache, s.consumer = VitalsCache(), _Consumer(shard, partitions)
    s.cache.apply_batch([r for r in readings if shard.owns(partition_for(r.patient_id.encode(), partitions))])
    return s


def test_router_reaches_the_owner_and_the_merged_listing_equals_one_cache():
    readings = list(generate_readings(patients=57, hz=1, count=57, seed=2))
    one = _service(Shard(0, 1), 8, readings)
    router = VitalsShards([_Handle(_service(Shard(i, 3), 8, readings)) for i in range(3)])

    async def check():
        for r in readings:
            assert (await router.latest(r.patient_id))["heart_rate"] == r.heart_rate
        assert await router.latest("P-nobody") is None
        for offset, limit in ((0, 10), (5, 20), (50, 100), (57, 5), (200, 1)):
            got, want = await router.page(offset, limit), one.patients(offset, limit)
            strip = lambda page: [(p["patient_id"], p["missing"]) for p in page["patients"]]  # noqa: E731
            assert (got["total"], strip(got)) == (want["total"], strip(want)), (offset, limit)
        stats = await router.stats()
        assert (stats["shards"], stats["patients"]) == (3, 57)

    asyncio.run(check())


def test_builder_names_one_deployment_per_shard_with_one_replica_each(monkeypatch):
    from medray.serve.builders import MedrayAppArgs, medray_app

    monkeypatch.setenv("MEDRAY_API_TOKEN", "sharding-test-token")

    args = MedrayAppArgs(allow_untrained=True, vitals_replicas=3)
    app = medray_app(args, {"VitalsService": {"ray_actor_options": {"num_cpus": 0.1}},
                            "VitalsShard2": {"max_ongoing_requests": 9}})
    shards = app._bound_deployment.init_kwargs["vitals"]
    assert [s._bound_deployment.name for s in shards] == ["VitalsShard0", "VitalsShard1", "VitalsShard2"]
    assert [s._bound_deployment.init_kwargs["shard"] for s in shards] == [0, 1, 2]
    assert shards[2]._bound_deployment.max_ongoing_requests == 9
    assert shards[0]._bound_deployment.ray_actor_options["num_cpus"] == 0.1
    with pytest.raises(ConfigError, match="exactly one replica"):
        medray_app(args, {"VitalsShard1": {"num_replicas": 2}})
    with pytest.raises(ConfigError, match="VitalsShard3"):
        medray_app(args, {"VitalsShard3": {}})


@pytest.mark.slow  # a Serve app with two vitals shards: ~1-2 min on the shared 2 cores
def test_served_app_with_two_shards_answers_every_patient_and_one_merged_listing(ray_session, kafka_bootstrap,
                                                                                 monkeypatch):
    import requests
    from ray import serve

    from medray.ports import free_port
    from medray.serve.stack import serving_stack
    from medray.vitals.schema import VITALS_TOPIC

    token = "sharding-e2e-token"
    monkeypatch.setenv("MEDRAY_API_TOKEN", token)
    auth = {"Authorization": f"Bearer {token}"}
    small = {"ray_actor_options": {"num_cpus": 0.1}}
    group = "shard-e2e-" + uuid.uuid4().hex[:6]
    with serving_stack(kafka=kafka_bootstrap, port=free_port(), host="127.0.0.1",
                       args={"allow_untrained": True, "vitals_replicas": 2, "vitals_group": group},
                       deployments={n: small for n in ("MedrayIngress", "Enhancer", "Synthesizer", "VitalsService")}
                       ) as st:
        deps = serve.status().applications["medray"].deployments
        assert {"VitalsShard0", "VitalsShard1"} <= set(deps) and "VitalsService" not in deps
        now = datetime.now(timezone.utc).replace(microsecond=0)
        readings = list(generate_readings(patients=12, hz=1, count=12, seed=6, start=now))
        _produce(kafka_bootstrap, VITALS_TOPIC, readings)
        for r in readings:  # each patient is answered, wherever its shard is
            deadline = time.monotonic() + 90
            while (resp := requests.get(f"{st.url}/v1/vitals/{r.patient_id}", headers=auth, timeout=30)).status_code != 200:
                assert time.monotonic() < deadline, f"{r.patient_id}: {resp.status_code} {resp.text}"
                time.sleep(0.5)
            assert resp.json()["heart_rate"] == r.heart_rate
        full = requests.get(f"{st.url}/v1/vitals?limit=1000", headers=auth, timeout=30).json()
        listed = [p["patient_id"] for p in full["patients"]]  # the session's topic may hold other tests' patients
        assert listed == sorted(set(listed)) and len(listed) == full["total"]
        assert {r.patient_id for r in readings} <= set(listed)
        page = requests.get(f"{st.url}/v1/vitals?offset=3&limit=5", headers=auth, timeout=30).json()
        assert [p["patient_id"] for p in page["patients"]] == listed[3:8]


def test_router_still_routes_when_one_shard_is_down():
    readings = list(generate_readings(patients=20, hz=1, count=20, seed=3))
    handles = [_Handle(_service(Shard(i, 2), 8, readings)) for i in range(2)]

    def down(*_):
        raise ConnectionError("replica restarting")

    handles[1].layout = _Method(down)
    router = VitalsShards(handles)
    mine = [r for r in readings if shard_for(r.patient_id, 8, 2) == 0]
    assert mine and asyncio.run(router.latest(mine[0].patient_id))["heart_rate"] == mine[0].heart_rate


def test_shard_deployments_behind_serve_handles_route_and_merge(kafka_bootstrap, unique_topic):
    """Serve's local testing mode (no Ray cluster): three VitalsShard deployments bound as a list, real consumers."""
    from ray import serve

    from medray.serve.vitals_deployment import SHARD_NAME

    @serve.deployment
    class Probe:  # stands in for the ingress: the same VitalsShards over the handles Serve passes
        def __init__(self, vitals):
            self.vitals = VitalsShards(vitals)

        async def latest(self, pid):
            return await self.vitals.latest(pid)

        async def page(self, offset, limit):
            return await self.vitals.page(offset, limit)

        async def stats(self):
            return await self.vitals.stats()

    topic, group = unique_topic, "g-" + uuid.uuid4().hex[:6]
    ensure_topics(kafka_bootstrap, [topic, topic + ".dlq"], partitions=8)
    shards = [VitalsService.options(name=SHARD_NAME.format(i)).bind(bootstrap=kafka_bootstrap, group_id=group,
                                                                   topic=topic, shard=i, shards=3) for i in range(3)]
    h = serve.run(Probe.bind(vitals=shards), name="sharding-local", _local_testing_mode=True)
    readings = list(generate_readings(patients=15, hz=1, count=15, seed=1))
    _produce(kafka_bootstrap, topic, readings)
    _wait(lambda: all(h.latest.remote(r.patient_id).result() for r in readings), timeout_s=60)
    assert [h.latest.remote(r.patient_id).result()["heart_rate"] for r in readings] == [r.heart_rate for r in readings]
    page = h.page.remote(2, 5).result()
    assert (page["total"], [p["patient_id"] for p in page["patients"]]) == (15, ["P0003", "P0004", "P0005", "P0006",
                                                                                "P0007"])
    stats = h.stats.remote().result()
    assert (stats["shards"], stats["patients"]) == (3, 15)
    assert [s["layout"]["owned"] for s in stats["per_shard"]] == [[0, 3, 6], [1, 4, 7], [2, 5]]
