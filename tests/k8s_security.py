"""Security rules for rendered manifests, reported like schema errors ("<Kind>/<name>: <field path>: <what>"),
and a small NetworkPolicy evaluator, for tests/test_k8s_security.py (docs/security.md says why each rule exists).
  * restricted pods: runAsNonRoot, no privilege escalation, capabilities drop ALL, seccomp RuntimeDefault on every
    pod and every container — Ray pod templates, KubeRay's autoscaler sidecar (autoscalerOptions), RayJob
    submitter pods, Deployments;
  * Ray token auth: authOptions mode token with a named Secret on every RayCluster spec, and every Ray container
    reading that Secret from a file (RAY_AUTH_TOKEN_PATH on a mounted Secret volume, RAY_AUTH_TOKEN declared
    empty so that KubeRay does not inject the token as an env var);
  * `allowed(...)`: whether a NetworkPolicy set admits a connection, per the Kubernetes semantics (policies add
    up; a pod selected by no Ingress policy accepts everything).
Independent of medray (plain dicts)."""
from __future__ import annotations

from typing import Iterator

from tests.k8s_validate import ident

TOKEN_ENV, TOKEN_PATH_ENV, MODE_ENV = "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"
TOKEN_KEY = "auth_token"  # KubeRay's key in the authOptions Secret (ray-operator utils.RAY_AUTH_TOKEN_SECRET_KEY)


def ray_clusters(obj: dict) -> list[tuple[str, dict]]:
    """(field path, RayCluster spec) of a RayCluster, a RayJob's rayClusterSpec, a RayService's rayClusterConfig."""
    spec = obj.get("spec", {})
    found = {"RayCluster": ("spec", spec), "RayJob": ("spec.rayClusterSpec", spec.get("rayClusterSpec")),
             "RayService": ("spec.rayClusterConfig", spec.get("rayClusterConfig"))}.get(obj.get("kind"))
    return [found] if found and found[1] else []


def pod_templates(obj: dict) -> Iterator[tuple[str, dict, bool]]:
    """(field path, pod template, is a Ray pod) for every pod template the object makes Kubernetes run."""
    for base, cluster in ray_clusters(obj):
        yield f"{base}.headGroupSpec.template", cluster.get("headGroupSpec", {}).get("template", {}), True
        for i, g in enumerate(cluster.get("workerGroupSpecs", [])):
            yield f"{base}.workerGroupSpecs[{i}].template", g.get("template", {}), True
    if obj.get("kind") == "RayJob" and obj.get("spec", {}).get("submitterPodTemplate"):
        yield "spec.submitterPodTemplate", obj["spec"]["submitterPodTemplate"], True
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield "spec.template", obj.get("spec", {}).get("template", {}), False


def _restricted(ctx: dict | None, where: str, pod: bool) -> list[str]:
    ctx = ctx or {}
    errors = []
    if ctx.get("runAsNonRoot") is not True:
        errors.append(f"{where}.securityContext.runAsNonRoot: must be true")
    if ctx.get("runAsUser") == 0:
        errors.append(f"{where}.securityContext.runAsUser: 0 is root")
    if ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errors.append(f"{where}.securityContext.seccompProfile.type: must be RuntimeDefault")
    if not pod:
        if ctx.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{where}.securityContext.allowPrivilegeEscalation: must be false")
        if ctx.get("capabilities", {}).get("drop") != ["ALL"] or ctx.get("capabilities", {}).get("add"):
            errors.append(f"{where}.securityContext.capabilities: must drop [ALL] and add nothing")
        if ctx.get("privileged"):
            errors.append(f"{where}.securityContext.privileged: must not be set")
    return errors


def security_context_errors(obj: dict) -> list[str]:
    """Every pod and container of `obj` runs restricted (Pod Security Standard "restricted", the parts that
    manifests decide)."""
    who = ident(obj)
    errors = []
    for path, template, _ in pod_templates(obj):
        spec = template.get("spec", {})
        errors += [f"{who}: {e}" for e in _restricted(spec.get("securityContext"), f"{path}.spec", pod=True)]
        for field in ("initContainers", "containers"):
            for j, c in enumerate(spec.get(field, [])):
                errors += [f"{who}: {e}" for e in _restricted(c.get("securityContext"), f"{path}.spec.{field}[{j}]",
                                                               pod=False)]
    for base, cluster in ray_clusters(obj):
        if cluster.get("enableInTreeAutoscaling"):  # KubeRay adds the autoscaler sidecar with these settings
            opts = cluster.get("autoscalerOptions", {})
            errors += [f"{who}: {e}" for e in _restricted(opts.get("securityContext"), f"{base}.autoscalerOptions",
                                                           pod=False)]
    return errors


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _token_file_errors(where: str, env: dict, mounts: list[dict], volumes: dict, secret: str) -> list[str]:
    errors = []
    token = env.get(TOKEN_ENV)
    if token is None or token.get("value") != "" or "valueFrom" in token:
        errors.append(f"{where}.env.{TOKEN_ENV}: declare it empty (value: \"\"), so that KubeRay does not inject the "
                      "token as an env var and Ray reads the file")
    path = env.get(TOKEN_PATH_ENV, {}).get("value", "")
    mount = next((m for m in mounts if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
    if mount is None:
        return errors + [f"{where}.env.{TOKEN_PATH_ENV}: {path!r} is not on a mounted volume"]
    vol = volumes.get(mount["name"], {})
    key = path[len(mount["mountPath"].rstrip("/")) + 1:]
    if vol.get("secret", {}).get("secretName") != secret:
        errors.append(f"{where}.env.{TOKEN_PATH_ENV}: {path!r} is not in the Secret {secret!r} (volume "
                      f"{mount['name']!r})")
    items = vol.get("secret", {}).get("items")
    if key != TOKEN_KEY and not any(i["path"] == key and i["key"] == TOKEN_KEY for i in items or []):
        errors.append(f"{where}.env.{TOKEN_PATH_ENV}: {path!r} is not the Secret's key {TOKEN_KEY!r}")
    return errors


def ray_token_errors(obj: dict, selected_secret: str | None = None) -> list[str]:
    """Token auth on, from a named Secret, read from a file by every Ray container (and the autoscaler).
    `selected_secret`: for a RayJob on an existing cluster (clusterSelector), that cluster's authOptions.secretName,
    which KubeRay uses for the submitter too."""
    who = ident(obj)
    errors = []
    for base, cluster in ray_clusters(obj):
        auth = cluster.get("authOptions") or {}
        if auth.get("mode") != "token":
            errors.append(f"{who}: {base}.authOptions.mode: must be 'token' (Ray's GCS, dashboard/Jobs API and "
                          "client port are otherwise open to anyone who can reach them)")
            continue
        if not auth.get("secretName"):
            errors.append(f"{who}: {base}.authOptions.secretName: name the token Secret (rotation, docs/security.md)")
            continue
        head_spec = cluster.get("headGroupSpec", {}).get("template", {}).get("spec", {})
        head_volumes = {v["name"]: v for v in head_spec.get("volumes", [])}
        if cluster.get("enableInTreeAutoscaling"):
            opts = cluster.get("autoscalerOptions", {})
            errors += [f"{who}: {e}" for e in _token_file_errors(
                f"{base}.autoscalerOptions", _env(opts), opts.get("volumeMounts", []), head_volumes,
                auth["secretName"])]
    for path, template, is_ray in pod_templates(obj):
        if not is_ray:
            continue
        spec = template.get("spec", {})
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        secret = next((c[1].get("authOptions", {}).get("secretName") for c in ray_clusters(obj)), selected_secret)
        if not secret:
            errors.append(f"{who}: {path}: no token Secret is known for this pod (authOptions.secretName)")
            continue
        for j, c in enumerate(spec.get("containers", [])[:1]):  # the Ray container is the first (KubeRay's rule)
            env = _env(c)
            if env.get(MODE_ENV, {}).get("value") != "token":
                errors.append(f"{who}: {path}.spec.containers[{j}].env.{MODE_ENV}: must be 'token'")
            errors += [f"{who}: {e}" for e in _token_file_errors(
                f"{path}.spec.containers[{j}]", env, c.get("volumeMounts", []), volumes, secret)]
    return errors


# --- NetworkPolicy evaluation -------------------------------------------------------------------------------

def selects(selector: dict | None, labels: dict) -> bool:
    """A Kubernetes LabelSelector; {} selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        has, val = e["key"] in labels, labels.get(e["key"])
        ok = {"In": has and val in e.get("values", []), "NotIn": not has or val not in e.get("values", []),
              "Exists": has, "DoesNotExist": not has}[e["operator"]]
        if not ok:
            return False
    return True


def _peer_admits(peer: dict, policy_ns: str, src_ns: str, src_labels: dict) -> bool:
    if "ipBlock" in peer:
        return False  # pod traffic is judged by labels here; CIDR peers are not used by medray
    ns_ok = (src_ns == policy_ns if "namespaceSelector" not in peer
             else selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": src_ns}))
    return ns_ok and ("podSelector" not in peer or selects(peer["podSelector"], src_labels))


def allowed(policies: list[dict], ns: str, target: dict, port: int, src_ns: str, src_labels: dict) -> bool:
    """Would a pod labelled `src_labels` in namespace `src_ns` reach TCP `port` of a pod labelled `target` in `ns`?"""
    selecting = [p for p in policies if p["metadata"].get("namespace") == ns
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and selects(p["spec"].get("podSelector"), target)]
    if not selecting:
        return True
    for p in selecting:
        for rule in p["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(pp.get("port") == port and pp.get("protocol", "TCP") == "TCP" for pp in ports):
                continue
            peers = rule.get("from")
            if not peers or any(_peer_admits(peer, ns, src_ns, src_labels) for peer in peers):
                return True
    return False
