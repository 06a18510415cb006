"""k8s/ as a platform team applies it: every rendered overlay validates against the vendored CRD schemas, and
what the manifests say agrees with the code they run (CLI, Serve builder, configs, Kafka names).
Versions and image tags: test_k8s_versions.py; sizing: test_k8s_capacity.py; broken copies: test_k8s_render.py."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s_rendered import ALL, JOBS, PLATFORM, ROOT, clusters, one, pods, rendered, serve_config
from tests.k8s_validate import validate


@pytest.mark.parametrize("overlay", sorted(ALL))
def test_every_rendered_manifest_validates_against_its_crd_schema(overlay):
    objs = rendered(ALL[overlay])
    assert objs
    errors = [e for o in objs for e in validate(o)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_platform_overlay_has_the_objects_platform_teams_expect(overlay):
    objs = rendered(PLATFORM[overlay])
    kinds = sorted(o["kind"] for o in objs)
    for kind in ("RayCluster", "RayService", "Kafka", "KafkaNodePool", "KafkaUser", "PersistentVolumeClaim"):
        assert kind in kinds, f"{overlay}: no {kind}"
    assert {o["metadata"]["name"] for o in objs if o["kind"] == "KafkaTopic"} == {"medray.vitals", "medray.vitals.dlq"}
    assert all(o["metadata"].get("namespace") for o in objs), "every object gets the overlay's namespace"
    assert {o["apiVersion"] for o in objs if o["kind"].startswith("Ray")} == {"ray.io/v1"}
    assert {o["apiVersion"] for o in objs if o["kind"].startswith("Kafka")} == {"kafka.strimzi.io/v1"}


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_ray_clusters_autoscale_v2_with_cpu_and_gpu_groups_sized_and_scraped(overlay):
    for where, spec in clusters(rendered(PLATFORM[overlay])):
        assert spec["enableInTreeAutoscaling"] is True and spec["autoscalerOptions"]["version"] == "v2", where
        assert [g["groupName"] for g in spec["workerGroupSpecs"]] == ["cpu-workers", "gpu-workers"], where
        for group, g in pods(spec):
            c = g["template"]["spec"]["containers"][0]
            for field in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][field]), f"{where} {group}: resources.{field}"
            assert {"name": "metrics", "containerPort": 8080} in c["ports"], f"{where} {group}: metrics port"
            assert g["rayStartParams"]["metrics-export-port"] == "8080", f"{where} {group}"
        gpu = spec["workerGroupSpecs"][1]
        assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", f"{where}: work stays off the head"
    prod = one(rendered(PLATFORM["gpu-prod"]), "RayCluster")["spec"]["workerGroupSpecs"][1]
    assert prod["maxReplicas"] > 0, "gpu-prod must be able to add GPU workers"


def test_rayservice_uses_serveconfigv2_gcs_ft_redis_probes_and_token_secret():
    for overlay in PLATFORM:
        objs = rendered(PLATFORM[overlay])
        svc = one(objs, "RayService")["spec"]
        assert "serveConfig" not in svc and svc["serveConfigV2"]
        ft = svc["rayClusterConfig"]["gcsFaultToleranceOptions"]
        redis = one(objs, "Service", "medray-redis")
        host, port = ft["redisAddress"].split(":")
        assert host == redis["metadata"]["name"] and int(port) == redis["spec"]["ports"][0]["port"]
        assert ft["redisPassword"]["valueFrom"]["secretKeyRef"] == {"name": "medray-redis", "key": "password"}
        for group, g in pods(svc["rayClusterConfig"]):
            c = g["template"]["spec"]["containers"][0]
            assert c.get("readinessProbe") and c.get("livenessProbe"), f"{overlay} {group}: probes"
            token = [e for e in c["env"] if e["name"] == "MEDRAY_API_TOKEN"]
            assert token and token[0]["valueFrom"]["secretKeyRef"]["name"] == "medray-api-token", group
            if group != "head":  # KubeRay's rule: a Serve worker is ready only when its proxy answers
                assert "8000/-/healthz" in " ".join(c["readinessProbe"]["exec"]["command"])


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_serve_config_v2_parses_and_its_import_path_is_the_project_builder(overlay, monkeypatch):
    from ray.serve._private.build_app import build_app
    from ray.serve.schema import ServeDeploySchema

    import medray.serve.builders as mb
    import serve_apps.builders

    raw = serve_config(rendered(PLATFORM[overlay]))
    schema = ServeDeploySchema.model_validate(raw)
    assert [a.name for a in schema.applications] == ["medray"]
    app = schema.applications[0]
    module, _, attr = app.import_path.partition(":")
    assert module == "serve_apps.builders", "serveConfigV2 points at the project's builders module"
    builder = getattr(__import__(module, fromlist=[attr]), attr)
    assert callable(builder) and builder is serve_apps.builders.build_medray_app
    args = mb.MedrayAppArgs.model_validate(app.args)  # extra="forbid": a misspelt arg fails here
    # Build the deployment graph (no actors start) to check each configured deployment exists in the app.
    # On the cluster MEDRAY_API_TOKEN comes from the Secret medray-api-token (the pod env the manifest declares).
    monkeypatch.setenv("MEDRAY_API_TOKEN", "manifest-test-token")
    # The checkpoint lives on the cluster's volume, so only its existence check is skipped here.
    saved = mb.check_checkpoint_setting
    mb.check_checkpoint_setting = lambda *a, **k: None
    try:
        built = build_app(builder(args), name=app.name)
    finally:
        mb.check_checkpoint_setting = saved
    names = {d.name for d in built.deployments}
    configured = {d.name for d in app.deployments}
    assert configured <= names, f"serveConfigV2 configures {sorted(configured - names)}, app has {sorted(names)}"
    for d in app.deployments:
        assert d.num_replicas is not None or d.autoscaling_config, f"{d.name}: replicas or autoscaling"
    assert args.checkpoint.startswith("/mnt/medray/"), "the served model comes from the shared volume"


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_serve_kafka_bootstrap_and_topics_agree_with_strimzi_objects(overlay):
    from medray.vitals.schema import DLQ_TOPIC, VITALS_TOPIC

    objs = rendered(PLATFORM[overlay])
    kafka = one(objs, "Kafka")
    name = kafka["metadata"]["name"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]  # one listener: TLS + SCRAM (tests/test_k8s_security.py)
    args = serve_config(objs)["applications"][0]["args"]
    assert args["kafka_bootstrap"] == f"{name}-kafka-bootstrap:{listener['port']}"
    topics = {o["metadata"]["name"]: o for o in objs if o["kind"] == "KafkaTopic"}
    assert args["vitals_topic"] == VITALS_TOPIC and {VITALS_TOPIC, DLQ_TOPIC} <= set(topics)
    pools = [o for o in objs if o["kind"] == "KafkaNodePool"]
    users = [o for o in objs if o["kind"] == "KafkaUser"]
    for o in [*topics.values(), *pools, *users]:
        assert o["metadata"]["labels"]["strimzi.io/cluster"] == name, o["metadata"]["name"]
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    for t in topics.values():
        assert t["spec"]["replicas"] <= brokers, f"{t['metadata']['name']}: more replicas than brokers"
    acls = one(objs, "KafkaUser", "medray-vitals-consumer")["spec"]["authorization"]["acls"]
    assert {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic"} == {VITALS_TOPIC, DLQ_TOPIC}
    assert {a["resource"]["name"] for a in acls if a["resource"]["type"] == "group"} == {args["vitals_group"]}


def _entrypoints():
    for overlay, path in JOBS.items():
        for job in rendered(path):
            yield overlay, job["metadata"]["name"], shlex.split(job["spec"]["entrypoint"])


@pytest.mark.parametrize("overlay,job,argv", list(_entrypoints()), ids=lambda v: v if isinstance(v, str) else "")
def test_rayjob_entrypoint_is_a_medray_command_that_parses(overlay, job, argv):
    from medray.cli import build_parser

    assert argv[0] == "medray", f"{job}: entrypoint must run the medray CLI, got {argv[0]!r}"
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit:  # argparse has printed why (unknown flag, bad value, missing required flag)
        pytest.fail(f"{overlay} {job}: entrypoint {shlex.join(argv)!r} is not a valid medray command line")
    assert job.startswith(f"medray-{args.command}")


def test_rayjob_subcommands_answer_help():
    subs = sorted({argv[1] for _, _, argv in _entrypoints()})
    assert subs == ["ingest", "train", "tune"]
    medray = Path(sys.executable).with_name("medray")
    for sub in subs:
        out = subprocess.run([str(medray), sub, "--help"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and f"usage: medray {sub}" in out.stdout, out.stderr


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_entrypoint_files_are_mounted_on_the_head_and_load(overlay, tmp_path):
    from medray.config import load_yaml
    from medray.train.options import TrainConfig, config_from_sources
    from medray.tune.space import build_config, flatten, load_space

    def load_train_config(path):  # the CLI's loader, then each section (generator, loss, …) by its dataclass
        config_from_sources(path)
        data = load_yaml(path)
        build_config(TrainConfig, data.pop("model"), flatten(data), str(path))

    objs = rendered(PLATFORM[overlay])
    head = one(objs, "RayCluster")["spec"]["headGroupSpec"]["template"]["spec"]
    volumes = {v["name"]: v for v in head["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in head["containers"][0]["volumeMounts"]}
    storage = [p for p, v in mounts.items() if v.get("persistentVolumeClaim")]
    for _, _, argv in (e for e in _entrypoints() if e[0] == overlay):
        for flag, value in zip(argv, argv[1:] + [""]):
            path = value if flag.startswith("--") else flag
            if path.startswith("/etc/medray/"):
                directory, key = path.rsplit("/", 1)
                vol = mounts[directory]
                if "configMap" in vol:
                    cm = one(objs, "ConfigMap", vol["configMap"]["name"])
                    assert key in cm["data"], f"{path}: no key {key} in ConfigMap {cm['metadata']['name']}"
                    text = cm["data"][key]
                    tmp = tmp_path / key
                    tmp.write_text(text)
                    (load_train_config if "train" in directory else load_space)(tmp)
                else:
                    assert vol["secret"]["secretName"] == "medray-salt"
            elif path.startswith("/mnt/"):
                assert any(path.startswith(p + "/") for p in storage), f"{path} is not on the shared volume"
        if argv[1] == "train":  # Ray Train's storage_path: the same volume on every pod of the cluster
            storage_path = argv[argv.index("--storage") + 1]
            for group, g in pods(one(objs, "RayCluster")["spec"]):
                paths = [m["mountPath"] for m in g["template"]["spec"]["containers"][0]["volumeMounts"]]
                assert any(storage_path.startswith(p + "/") for p in paths), f"{group} lacks {storage_path}"


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_rayjobs_target_the_overlays_raycluster_in_its_namespace(overlay):
    cluster = one(rendered(PLATFORM[overlay]), "RayCluster")
    for job in rendered(JOBS[overlay]):
        assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
        assert job["metadata"]["namespace"] == cluster["metadata"]["namespace"]
        assert job["metadata"]["labels"]["medray.io/step"] == job["metadata"]["name"].removeprefix("medray-")


def test_gpu_prod_trains_on_gpus_and_sweeps_with_gpu_trials():
    argvs = {job: argv for overlay, job, argv in _entrypoints() if overlay == "gpu-prod"}
    assert "--use-gpu" in argvs["medray-train"] and "--use-gpu" in argvs["medray-train-pixmed"]
    assert argvs["medray-tune"][2].endswith("_gpu.yaml")


def _secret_refs(node):
    if isinstance(node, dict):
        if "secretName" in node:
            yield node["secretName"]
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]["name"]
        for v in node.values():
            yield from _secret_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _secret_refs(v)


# Secrets that Strimzi creates (its User Operator per KafkaUser; its cluster CA per Kafka): nobody creates them.
STRIMZI_SECRETS = {"medray-vitals-consumer", "medray-kafka-cluster-ca-cert"}


def test_secrets_not_rendered_by_gpu_prod_are_documented():
    objs = rendered(PLATFORM["gpu-prod"])
    referenced = set(_secret_refs(list(objs)))
    created = {o["metadata"]["name"] for o in objs if o["kind"] == "Secret"}
    doc = (ROOT / "docs/deploy.md").read_text()
    assert referenced - STRIMZI_SECRETS == {"medray-redis", "medray-api-token", "medray-salt", "medray-ray-token",
                                            "medray-dlq-hmac"}
    users = {o["metadata"]["name"] for o in objs if o["kind"] == "KafkaUser"}
    kafka = one(objs, "Kafka")["metadata"]["name"]
    assert referenced & STRIMZI_SECRETS <= users | {f"{kafka}-cluster-ca-cert"}, "Strimzi names them so"
    for name in referenced - created - STRIMZI_SECRETS:
        assert f"kubectl -n medray create secret generic {name}" in doc, f"docs/deploy.md must say how to create {name}"
