"""Issue 18/19: the rendered overlays lock Ray, Kafka and Redis down (docs/security.md), and each rule is checked
on broken copies so that the checks themselves can fail. Rules live in tests/k8s_security.py."""
from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.k8s_rendered import ALL, JOBS, PLATFORM, ROOT, one, rendered, serve_config
from tests.k8s_security import allowed, ray_token_errors, security_context_errors

# Redis 8.2.2 fixed CVE-2025-49844 (Lua use-after-free, remote code execution) with -46817/-46818/-46819;
# 8.2.3 fixed CVE-2025-62507. Older tags are refused; raise this when a newer fix matters.
MIN_REDIS = (8, 2, 3)
OPERATOR = ("kuberay-system", {"app.kubernetes.io/name": "kuberay-operator"})


def _labels(objs, kind, node):
    spec = one(objs, kind)["spec"]
    spec = spec.get("rayClusterConfig", spec)
    template = spec["headGroupSpec"]["template"] if node == "head" else spec["workerGroupSpecs"][0]["template"]
    return template["metadata"]["labels"]


@pytest.mark.parametrize("overlay", sorted(ALL))
def test_every_pod_and_container_runs_restricted(overlay):
    errors = [e for o in rendered(ALL[overlay]) for e in security_context_errors(o)]
    assert not errors, "\n".join(errors)


def test_a_container_without_restrictions_is_refused_naming_the_field():
    cluster = copy.deepcopy(one(rendered(PLATFORM["gpu-prod"]), "RayCluster"))
    del cluster["spec"]["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["securityContext"]
    cluster["spec"]["autoscalerOptions"]["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"], "drop": ["ALL"]}
    errors = "\n".join(security_context_errors(cluster))
    assert ("spec.workerGroupSpecs[1].template.spec.containers[0].securityContext.allowPrivilegeEscalation: "
            "must be false") in errors
    assert "spec.autoscalerOptions.securityContext.capabilities: must drop [ALL]" in errors
    redis = copy.deepcopy(one(rendered(PLATFORM["cpu-dev"]), "Deployment", "medray-redis"))
    redis["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
    assert security_context_errors(redis) == [
        "Deployment/medray-redis: spec.template.spec.securityContext.runAsNonRoot: must be true"]


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_ray_clusters_require_the_token_and_every_ray_process_reads_it_from_a_file(overlay):
    objs = rendered(PLATFORM[overlay])
    errors = [e for o in objs for e in ray_token_errors(o)]
    assert not errors, "\n".join(errors)
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    for kind in ("RayCluster", "RayService"):
        spec = one(objs, kind)["spec"]
        name = spec.get("rayClusterConfig", spec)["authOptions"]["secretName"]
        assert name == "medray-ray-token"
        if overlay == "cpu-dev":  # generated there; gpu-prod documents it (test_k8s_manifests.py)
            assert set(secrets[name]["data"]) == {"auth_token"}
    # The token reaches no container as an env value or secretKeyRef: the file is the only channel.
    text = yaml.safe_dump_all(list(objs))
    assert "medray-ray-token, key" not in text and not re.search(r"name: medray-ray-token\n\s+key:", text)


@pytest.mark.parametrize("overlay", sorted(JOBS))
def test_rayjob_submitters_are_labelled_clients_with_the_token_file(overlay):
    cluster = one(rendered(PLATFORM[overlay]), "RayCluster")
    secret = cluster["spec"]["authOptions"]["secretName"]
    for job in rendered(JOBS[overlay]):
        assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
        assert ray_token_errors(job, selected_secret=secret) == []
        assert job["spec"]["submitterPodTemplate"]["metadata"]["labels"]["medray.io/ray-client"] == "true"


def test_token_rules_refuse_missing_auth_and_a_token_in_env():
    objs = rendered(PLATFORM["gpu-prod"])
    svc = copy.deepcopy(one(objs, "RayService"))
    del svc["spec"]["rayClusterConfig"]["authOptions"]
    assert any("spec.rayClusterConfig.authOptions.mode: must be 'token'" in e for e in ray_token_errors(svc))
    cluster = copy.deepcopy(one(objs, "RayCluster"))
    env = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["env"]
    token = next(e for e in env if e["name"] == "RAY_AUTH_TOKEN")
    token.pop("value")
    token["valueFrom"] = {"secretKeyRef": {"name": "medray-ray-token", "key": "auth_token"}}
    errors = ray_token_errors(cluster)
    assert len(errors) == 1 and "spec.workerGroupSpecs[0].template.spec.containers[0].env.RAY_AUTH_TOKEN" in errors[0]


def test_installed_ray_reads_the_token_file_when_ray_auth_token_is_empty(tmp_path):
    """What the manifests rely on: with RAY_AUTH_TOKEN declared empty, Ray 2.60 takes the RAY_AUTH_TOKEN_PATH file."""
    token_file = tmp_path / "auth_token"
    token_file.write_text("file-token-0123456789abcdef\n")
    env = {**os.environ, "HOME": str(tmp_path), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "",
           "RAY_AUTH_TOKEN_PATH": str(token_file)}
    code = ("from ray._raylet import AuthenticationTokenLoader as L; "
            "from ray._private.authentication.authentication_utils import is_token_auth_enabled as on; "
            "print(on(), L.instance().get_raw_token(ignore_auth_mode=True))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "file-token-0123456789abcdef"]


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_network_policies_deny_by_default_and_allow_only_the_listed_paths(overlay):
    objs = rendered(PLATFORM[overlay])
    jobs_overlay = rendered(JOBS[overlay])
    ns = one(objs, "RayCluster")["metadata"]["namespace"]
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert deny and "Ingress" in deny[0]["spec"]["policyTypes"], "a default-deny ingress policy for the namespace"
    jobs_head, jobs_worker = _labels(objs, "RayCluster", "head"), _labels(objs, "RayCluster", "worker")
    serve_head, serve_worker = _labels(objs, "RayService", "head"), _labels(objs, "RayService", "worker")
    redis = one(objs, "Deployment", "medray-redis")["spec"]["template"]["metadata"]["labels"]
    submitter = jobs_overlay[0]["spec"]["submitterPodTemplate"]["metadata"]["labels"]
    stranger = {"app": "anything-else"}

    def can(src, target, port, src_ns=ns):
        return allowed(policies, ns, target, port, src_ns, src)

    for port in (8265, 10001, 6379, 52365):  # Jobs API, Ray Client, GCS, dashboard agent
        assert not can(stranger, jobs_head, port) and not can(stranger, serve_head, port), port
    assert not can(stranger, serve_worker, 8000) and not can(stranger, redis, 6379)
    assert can(submitter, jobs_head, 8265) and can(submitter, jobs_head, 10001)
    assert not can(submitter, jobs_head, 6379) and not can(submitter, jobs_worker, 12345)
    for target in (jobs_head, serve_head):
        assert can(OPERATOR[1], target, 8265, OPERATOR[0]), "KubeRay submits jobs and reads Serve status on 8265"
        assert not can(OPERATOR[1], target, 6379, OPERATOR[0])
    assert not can(OPERATOR[1], jobs_head, 8265, "some-other-namespace")
    for a, b in ((jobs_worker, jobs_head), (jobs_head, jobs_worker), (serve_worker, serve_head)):
        assert can(a, b, 6379) and can(a, b, 23456), "within one Ray cluster every port is open"
    assert not can(jobs_worker, serve_head, 6379) and not can(serve_worker, jobs_head, 8265), "clusters are apart"
    assert can({}, serve_worker, 8000, "ingress-nginx") and not can({}, serve_worker, 8265, "ingress-nginx")
    assert not can({}, serve_head, 6379, "ingress-nginx")
    assert can(serve_head, redis, 6379) and not can(jobs_head, redis, 6379)


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_kafka_is_tls_and_scram_only_with_least_privilege_users(overlay):
    from medray.vitals.schema import DLQ_TOPIC, VITALS_TOPIC

    objs = rendered(PLATFORM[overlay])
    kafka = one(objs, "Kafka")["spec"]["kafka"]
    serve_pods = _labels(objs, "RayService", "worker")
    for listener in kafka["listeners"]:
        assert listener["tls"] is True, f"{listener['name']}: TLS off"
        assert listener.get("authentication", {}).get("type") == "scram-sha-512", f"{listener['name']}: no SCRAM"
        peers = listener.get("networkPolicyPeers")
        assert peers, f"{listener['name']}: without networkPolicyPeers Strimzi opens it to every pod"
        for peer in peers:
            assert set(peer) == {"podSelector"} and peer["podSelector"]["matchLabels"], peer
        labels = [p["podSelector"]["matchLabels"] for p in peers]
        assert any(all(serve_pods.get(k) == v for k, v in m.items()) for m in labels), "the Serve pods reach it"
        assert {"medray.io/vitals-producer": "true"} in labels
    assert kafka["authorization"]["type"] == "simple" and not kafka["authorization"].get("superUsers")
    users = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "KafkaUser"}
    grants = {name: {(a["resource"]["type"], a["resource"]["name"], op) for a in u["authorization"]["acls"]
                     for op in a["operations"]} for name, u in users.items()}
    group = serve_config(objs)["applications"][0]["args"]["vitals_group"]
    assert grants == {
        "medray-vitals-consumer": {("topic", VITALS_TOPIC, "Read"), ("group", group, "Read"),
                                   ("topic", DLQ_TOPIC, "Write")},
        "medray-vitals-producer": {("topic", VITALS_TOPIC, "Write")}}
    for u in users.values():
        assert u["authentication"]["type"] == "scram-sha-512" and u["authorization"]["type"] == "simple"
        assert all(a["resource"].get("patternType", "literal") == "literal" for a in u["authorization"]["acls"])


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_serve_consumer_uses_scram_over_tls_with_credentials_from_mounted_files(overlay):
    from dataclasses import fields

    from medray.vitals.security import KafkaSecurity

    objs = rendered(PLATFORM[overlay])
    kafka = one(objs, "Kafka")["metadata"]["name"]
    security = serve_config(objs)["applications"][0]["args"]["kafka_security"]
    assert set(security) <= {f.name for f in fields(KafkaSecurity)}
    assert security["sasl_mechanism"] == "SCRAM-SHA-512" and security["sasl_username"] == "medray-vitals-consumer"
    assert one(objs, "KafkaUser", security["sasl_username"])
    for g in one(objs, "RayService")["spec"]["rayClusterConfig"]["workerGroupSpecs"]:  # where VitalsService runs
        spec = g["template"]["spec"]
        c = spec["containers"][0]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for field, secret, key in (("sasl_password_file", "medray-vitals-consumer", "password"),
                                   ("ssl_cafile", f"{kafka}-cluster-ca-cert", "ca.crt")):
            directory, name = security[field].rsplit("/", 1)
            vol = volumes[mounts[directory]]["secret"]
            assert vol["secretName"] == secret and {"key": key, "path": name} in vol["items"], field
        assert not any("medray-vitals-consumer" in str(e.get("valueFrom")) for e in c["env"]), "password in env"


def _version(image: str) -> tuple[int, ...]:
    tag = image.rsplit(":", 1)[1]
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(-[a-z0-9.]+)?", tag)
    assert m, f"{image}: pin a full version tag (not {tag!r})"
    return tuple(int(x) for x in m.groups()[:3])


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_redis_is_patched_keeps_its_password_in_files_and_its_data_on_a_pvc(overlay):
    objs = rendered(PLATFORM[overlay])
    dep = one(objs, "Deployment", "medray-redis")["spec"]
    spec = dep["template"]["spec"]
    containers = spec.get("initContainers", []) + spec["containers"]
    for c in containers:
        assert c["image"].startswith("redis:") and _version(c["image"]) >= MIN_REDIS, c["image"]
        argv = " ".join(c.get("command", []) + c.get("args", []))
        assert "requirepass" not in " ".join(c.get("args", [])) and "$(" not in " ".join(c.get("args", []))
        assert "REDIS_PASSWORD" not in argv and not any("valueFrom" in e for e in c.get("env", [])), c["name"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    redis = spec["containers"][0]
    mounts = {m["mountPath"]: volumes[m["name"]] for m in redis["volumeMounts"]}
    claim = mounts["/data"]["persistentVolumeClaim"]["claimName"]
    assert one(objs, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert dep["strategy"]["type"] == "Recreate"
    conf_path = redis["args"][0]
    conf_dir, conf_key = conf_path.rsplit("/", 1)
    conf = one(objs, "ConfigMap", mounts[conf_dir]["configMap"]["name"])["data"][conf_key]
    assert "requirepass" not in conf and "appendonly yes" in conf
    include = re.search(r"^include (\S+)$", conf, re.M).group(1)
    assert mounts[include.rsplit("/", 1)[0]]["emptyDir"]["medium"] == "Memory", "the password line stays in memory"
    init = spec["initContainers"][0]
    assert include in init["command"][-1] and "requirepass" in init["command"][-1]
    init_mounts = {m["mountPath"]: volumes[m["name"]] for m in init["volumeMounts"]}
    password_file = re.search(r"cat (\S+?)\)", init["command"][-1]).group(1)
    secret = init_mounts[password_file.rsplit("/", 1)[0]]["secret"]
    ft = one(objs, "RayService")["spec"]["rayClusterConfig"]["gcsFaultToleranceOptions"]
    assert secret["secretName"] == ft["redisPassword"]["valueFrom"]["secretKeyRef"]["name"]


def test_local_ray_cluster_starts_with_token_auth_and_a_token():
    cfg = yaml.safe_load((ROOT / "cluster/local.yaml").read_text())
    cmds = cfg["head_start_ray_commands"]
    start = next(i for i, c in enumerate(cmds) if "ray start --head" in c)
    assert "RAY_AUTH_MODE=token" in cmds[start], "ray start --head enables auth only when a token already exists"
    assert "--dashboard-host=127.0.0.1" in cmds[start]
    assert any("ray get-auth-token --generate" in c and ">/dev/null" in c for c in cmds[:start]), \
        "make sure the token exists before ray start (and do not print it into the launcher's log)"


def test_docs_say_how_to_submit_a_job_and_what_is_protected():
    from ray._private.authentication.authentication_token_setup import _get_default_token_path

    default = "~/" + str(_get_default_token_path().relative_to(os.path.expanduser("~")))
    deploy = (ROOT / "docs/deploy.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for text, where in ((deploy, "docs/deploy.md"), (readme, "README.md")):
        for needle in ("RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN_PATH", default, ".venv/bin/medray", "ray job submit"):
            assert needle in text, f"{where} must mention {needle}"
    assert ("./scripts/setup && .venv/bin/medray demo     # install, then run the whole pipeline on embedded defaults\n"
            "./scripts/test                               # run the tests\n") in readme
    security = (ROOT / "docs/security.md").read_text()
    for needle in ("## Threat model", "## Authentication", "## Rotation", "## Logs and dead letters",
                   "## Input bombs", "MEDRAY_API_TOKEN", "SCRAM-SHA-512", "medray-ray-token", "medray-redis",
                   "pseudonym", "keyed hash"):
        assert needle in security, f"docs/security.md must cover {needle}"
