"""Rules a CRD schema cannot express, reported like schema errors ("<Kind>/<name>: <field path>: <what>"):
  * KubeRay's own admission checks (ray-operator/controllers/ray/utils/validation.go, v1.7.0) that medray's
    manifests could trip — the operator would otherwise only refuse them at reconcile time, in its log;
  * medray's rules: ray.io/v1 only, serveConfigV2 only, a GPU limit on every GPU group.
Independent of medray."""
from __future__ import annotations

import re

from tests.k8s_validate import ident

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# validation.go: MaxRayClusterNameLength = 53; RayService/RayJob names leave 6 characters for a suffix.
MAX_NAME = {"RayCluster": 53, "RayService": 47, "RayJob": 47}
UPGRADE_TYPES = ("NewClusterWithIncrementalUpgrade", "NewCluster", "None")


def _clusters(obj: dict) -> list[tuple[str, dict]]:
    """(field path, RayCluster spec): a RayCluster's spec, a RayJob's rayClusterSpec, a RayService's config."""
    spec = obj.get("spec", {})
    found = {"RayCluster": [("spec", spec)], "RayJob": [("spec.rayClusterSpec", spec.get("rayClusterSpec"))],
             "RayService": [("spec.rayClusterConfig", spec.get("rayClusterConfig"))]}.get(obj.get("kind"), [])
    return [(path, c) for path, c in found if c]


def _kuberay_rules(obj: dict, where: str) -> list[str]:
    errors = []
    kind, spec, name = obj.get("kind"), obj.get("spec", {}), obj.get("metadata", {}).get("name", "")
    if kind in MAX_NAME and (len(name) > MAX_NAME[kind] or not _DNS1035.match(name)):
        errors.append(f"{where}: metadata.name: {kind} names must be DNS-1035 labels of ≤ {MAX_NAME[kind]} characters")
    for base, cluster in _clusters(obj):
        head_params = cluster.get("headGroupSpec", {}).get("rayStartParams", {})
        if cluster.get("gcsFaultToleranceOptions") and "redis-password" in head_params:
            errors.append(f"{where}: {base}.headGroupSpec.rayStartParams.redis-password: set it in "
                          "gcsFaultToleranceOptions.redisPassword instead")
        for i, g in enumerate(cluster.get("workerGroupSpecs", [])):
            lo, hi = g.get("minReplicas", 0), g.get("maxReplicas")
            if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
                errors.append(f"{where}: {base}.workerGroupSpecs[{i}].minReplicas: {lo} > maxReplicas {hi}")
            if not cluster.get("enableInTreeAutoscaling") and (g.get("minReplicas") is None or hi is None):
                errors.append(f"{where}: {base}.workerGroupSpecs[{i}]: set minReplicas and maxReplicas "
                              "when autoscaling is off")
    if kind == "RayJob":
        if spec.get("suspend") and not spec.get("shutdownAfterJobFinishes"):
            errors.append(f"{where}: spec.suspend: a suspended RayJob needs shutdownAfterJobFinishes: true")
        selector = spec.get("clusterSelector")
        if selector:
            if not selector.get("ray.io/cluster"):
                errors.append(f"{where}: spec.clusterSelector[\"ray.io/cluster\"]: the RayCluster name is missing")
            for field, bad in (("suspend", spec.get("suspend")), ("backoffLimit", spec.get("backoffLimit", 0) > 0),
                               ("submissionMode", spec.get("submissionMode") == "SidecarMode")):
                if bad:
                    errors.append(f"{where}: spec.{field}: not allowed with clusterSelector")
        elif not spec.get("rayClusterSpec"):
            errors.append(f"{where}: spec.clusterSelector: one of clusterSelector or rayClusterSpec must be set")
    if kind == "RayService":
        upgrade = spec.get("upgradeStrategy", {}).get("type")
        if upgrade is not None and upgrade not in UPGRADE_TYPES:
            errors.append(f"{where}: spec.upgradeStrategy.type: {upgrade!r}; valid: {list(UPGRADE_TYPES)}")
    return errors


def _medray_rules(obj: dict, where: str) -> list[str]:
    errors = []
    if obj.get("apiVersion", "").startswith("ray.io/") and obj.get("apiVersion") != "ray.io/v1":
        errors.append(f"{where}: apiVersion: {obj['apiVersion']!r} is deprecated; medray uses 'ray.io/v1'")
    if obj.get("kind") == "RayService":
        spec = obj.get("spec", {})
        if "serveConfig" in spec:
            errors.append(f"{where}: spec.serveConfig: dropped in KubeRay v1; use spec.serveConfigV2")
        if not spec.get("serveConfigV2"):
            errors.append(f"{where}: spec.serveConfigV2: missing; the Serve applications are declared there")
    for base, cluster in _clusters(obj):
        for i, group in enumerate(cluster.get("workerGroupSpecs", [])):
            if "gpu" not in group.get("groupName", ""):
                continue
            for j, c in enumerate(group.get("template", {}).get("spec", {}).get("containers", [])):
                gpus = str(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", ""))
                if not gpus.isdigit() or int(gpus) < 1:
                    errors.append(f"{where}: {base}.workerGroupSpecs[{i}].template.spec.containers[{j}]"
                                  f'.resources.limits["nvidia.com/gpu"]: GPU group {group.get("groupName")!r} '
                                  "needs a whole-number GPU limit ≥ 1")
    return errors


def validate_policy(obj: dict) -> list[str]:
    where = ident(obj)
    return _kuberay_rules(obj, where) + _medray_rules(obj, where)
