"""The renderer and validator behind tests/test_k8s_manifests.py: broken copies of the real manifests are refused
with the field named, the renderer refuses what it does not model, and it renders what `kubectl kustomize` does."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.k8s_render import RenderError, merge_patch, render
from tests.k8s_validate import validate

ROOT = Path(__file__).resolve().parents[1]
OVERLAYS = ["k8s/overlays/cpu-dev", "k8s/overlays/cpu-dev/jobs", "k8s/overlays/gpu-prod", "k8s/overlays/gpu-prod/jobs"]


@pytest.fixture(scope="module")
def prod() -> dict:
    return {o["kind"]: o for o in render(ROOT / "k8s/overlays/gpu-prod")}


def test_wrong_api_version_is_refused_naming_apiversion(prod):
    for kind, bad in (("Kafka", "kafka.strimzi.io/v1beta2"), ("RayCluster", "ray.io/v2"),
                      ("KafkaTopic", "kafka.strimzi.io/v1alpha1")):
        obj = copy.deepcopy(prod[kind])
        obj["apiVersion"] = bad
        errors = validate(obj)
        assert errors and all("apiVersion" in e for e in errors), errors
        assert any(f"{bad!r} is not served" in e for e in errors), errors
    old = copy.deepcopy(prod["RayService"])
    old["apiVersion"] = "ray.io/v1alpha1"  # still served by the CRD, refused by medray's policy
    assert any("apiVersion" in e and "deprecated" in e for e in validate(old))


def test_serveconfig_instead_of_serveconfigv2_is_refused_naming_the_field(prod):
    obj = copy.deepcopy(prod["RayService"])
    obj["spec"]["serveConfig"] = obj["spec"].pop("serveConfigV2")
    errors = validate(obj)
    assert any(e.startswith("RayService/medray-serve: spec.serveConfig: unknown field") for e in errors), errors
    assert any("spec.serveConfigV2: missing" in e for e in errors), errors


def test_gpu_group_without_gpu_limit_is_refused_naming_the_field(prod):
    for kind, base in (("RayCluster", "spec"), ("RayService", "spec.rayClusterConfig")):
        obj = copy.deepcopy(prod[kind])
        spec = obj["spec"] if kind == "RayCluster" else obj["spec"]["rayClusterConfig"]
        del spec["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
        errors = validate(obj)
        field = f'{base}.workerGroupSpecs[1].template.spec.containers[0].resources.limits["nvidia.com/gpu"]'
        assert len(errors) == 1 and field in errors[0] and "gpu-workers" in errors[0], errors


def test_schema_errors_name_the_field_and_unknown_fields_are_errors(prod):
    obj = copy.deepcopy(prod["RayCluster"])
    obj["spec"]["workerGroupSpecs"][0]["maxReplicas"] = "sixteen"
    obj["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "8 GB"
    obj["spec"]["enableInTreeAutoscalling"] = True
    errors = "\n".join(validate(obj))
    assert "spec.workerGroupSpecs[0].maxReplicas: 'sixteen' is not of type 'integer'" in errors
    assert "spec.headGroupSpec.template.spec.containers[0].resources.limits.memory: '8 GB' does not match" in errors
    assert "spec.enableInTreeAutoscalling: unknown field" in errors
    topic = copy.deepcopy(prod["KafkaTopic"])
    topic["spec"]["partitons"] = 3
    assert any("spec.partitons: unknown field" in e for e in validate(topic))
    # x-kubernetes-preserve-unknown-fields stays open: arbitrary broker config keys are fine
    kafka = copy.deepcopy(prod["Kafka"])
    kafka["spec"]["kafka"]["config"]["log.retention.hours"] = 48
    assert validate(kafka) == []


def test_kuberay_admission_rules_are_checked_before_the_operator_sees_them(prod):
    job = render(ROOT / "k8s/overlays/gpu-prod/jobs")[0]
    job = copy.deepcopy(job)
    job["spec"]["suspend"] = True  # KubeRay refuses suspend in clusterSelector mode (and without shutdown)
    errors = validate(job)
    assert any("spec.suspend: not allowed with clusterSelector" in e for e in errors), errors
    cluster = copy.deepcopy(prod["RayCluster"])
    cluster["spec"]["workerGroupSpecs"][0]["minReplicas"] = 20
    assert validate(cluster) == ["RayCluster/medray: spec.workerGroupSpecs[0].minReplicas: 20 > maxReplicas 16"]
    svc = copy.deepcopy(prod["RayService"])
    svc["metadata"]["name"] = "medray-serve-" + "x" * 40
    assert any("metadata.name: RayService names must be DNS-1035" in e for e in validate(svc))


def _write(tmp: Path, kustomization: dict, resources: dict[str, list[dict]]) -> Path:
    for name, docs in resources.items():
        (tmp / name).write_text(yaml.safe_dump_all(docs))
    (tmp / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return tmp


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}


def test_renderer_refuses_fields_it_does_not_model(tmp_path):
    _write(tmp_path, {"resources": ["c.yaml"], "namePrefix": "x-"}, {"c.yaml": [CM]})
    with pytest.raises(RenderError, match=r"\['namePrefix'\] are not modelled"):
        render(tmp_path)


def test_renderer_requires_unhashed_generators(tmp_path):
    _write(tmp_path, {"configMapGenerator": [{"name": "g", "literals": ["k=v"]}]}, {})
    with pytest.raises(RenderError, match="disableNameSuffixHash"):
        render(tmp_path)


def test_json6902_test_op_and_missing_target_fail_loudly(tmp_path):
    k = {"resources": ["c.yaml"], "patches": [{"target": {"kind": "ConfigMap", "name": "c"},
                                               "patch": '- {op: test, path: /data/a, value: "9"}'}]}
    _write(tmp_path, k, {"c.yaml": [CM]})
    with pytest.raises(RenderError, match="test failed at /data/a"):
        render(tmp_path)
    k["patches"][0]["target"]["name"] = "nope"
    _write(tmp_path, k, {"c.yaml": [CM]})
    with pytest.raises(RenderError, match="matches no resource"):
        render(tmp_path)


def test_json6902_and_merge_patches_images_namespace_labels(tmp_path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "a", "image": "medray"}, {"name": "b", "image": "other:1"}]}}
    k = {"resources": ["r.yaml"], "namespace": "ns", "labels": [{"pairs": {"team": "x"}}],
         "images": [{"name": "medray", "newName": "reg/medray-cpu", "newTag": "0.1.0"}],
         "patches": [{"target": {"kind": "ConfigMap"}, "patch": "- {op: remove, path: /data/b}\n"
                                                                 "- {op: add, path: /data/c, value: '3'}"},
                     {"patch": yaml.safe_dump({"kind": "Pod", "metadata": {"name": "p"},
                                               "spec": {"restartPolicy": "Never"}})}]}
    objs = {o["kind"]: o for o in render(_write(tmp_path, k, {"r.yaml": [CM, pod]}))}
    assert objs["ConfigMap"]["data"] == {"a": "1", "c": "3"}
    assert [c["image"] for c in objs["Pod"]["spec"]["containers"]] == ["reg/medray-cpu:0.1.0", "other:1"]
    assert objs["Pod"]["spec"]["restartPolicy"] == "Never" and objs["Pod"]["metadata"]["namespace"] == "ns"
    assert objs["ConfigMap"]["metadata"]["labels"] == {"team": "x"}
    assert merge_patch({"a": [1, 2], "b": {"c": 1, "d": 2}}, {"a": [3], "b": {"c": None}}) == {"a": [3], "b": {"d": 2}}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with built-in kustomize) not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_python_renderer_matches_kubectl_kustomize(overlay):
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / overlay)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr

    def key(o):
        return o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]

    theirs = {key(o): json.dumps(o, sort_keys=True) for o in yaml.safe_load_all(out.stdout) if o}
    mine = {key(o): json.dumps(o, sort_keys=True) for o in render(ROOT / overlay)}
    assert mine.keys() == theirs.keys()
    assert [k for k in mine if mine[k] != theirs[k]] == []
