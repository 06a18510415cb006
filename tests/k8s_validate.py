"""Validate rendered manifests against the vendored CRD OpenAPI v3 schemas (tests/k8s_schemas/), strictly.

The API server prunes unknown fields of a custom resource silently, so a typo such as `serveConfig` for
`serveConfigV2` would be *accepted and dropped*. `kubectl apply --validate=strict` refuses it instead; we do the
same by closing every object schema that lists `properties` (unless it says `x-kubernetes-preserve-unknown-fields`).
Every problem is reported as "<Kind>/<name>: <field path>: <what>". Independent of medray (PyYAML + jsonschema).
Rules a schema cannot express (KubeRay's admission checks, medray's own) are in tests/k8s_policy.py."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

SCHEMA_DIR = Path(__file__).parent / "k8s_schemas"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Core kinds medray ships: no schema is vendored for them; the apiVersion is still checked.
CORE_KINDS = {"ConfigMap": "v1", "Secret": "v1", "Service": "v1", "PersistentVolumeClaim": "v1",
              "Deployment": "apps/v1", "NetworkPolicy": "networking.k8s.io/v1"}
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _close(schema: dict) -> dict:
    """Copy of an OpenAPI schema where objects with declared properties refuse unknown keys."""
    if not isinstance(schema, dict):
        return schema
    out = {k: (_close(v) if isinstance(v, dict) else [_close(x) for x in v] if isinstance(v, list) else v)
           for k, v in schema.items() if k != "properties"}
    if "properties" in schema:
        out["properties"] = {k: _close(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


@lru_cache(maxsize=1)
def crd_schemas() -> dict[tuple[str, str], dict[str, dict]]:
    """{(group, kind): {served version: closed openAPIV3Schema}} from every vendored CRD."""
    out: dict[tuple[str, str], dict[str, dict]] = {}
    for path in sorted(SCHEMA_DIR.glob("*/*.yaml")):
        crd = yaml.load(path.read_text(), Loader=_Loader)
        key = (crd["spec"]["group"], crd["spec"]["names"]["kind"])
        out[key] = {v["name"]: _close(v["schema"]["openAPIV3Schema"])
                    for v in crd["spec"]["versions"] if v.get("served")}
    return out


def field_path(parts) -> str:
    s = ""
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else (f'["{p}"]' if "." in p or "/" in p else (f".{p}" if s else p))
    return s or "<root>"


def ident(obj: dict) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def validate_schema(obj: dict) -> list[str]:
    """Schema errors for one manifest; [] when it is valid."""
    where = ident(obj)
    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    errors = []
    name = obj.get("metadata", {}).get("name", "")
    if not (name and len(name) <= 253 and _DNS1123.match(name)):
        errors.append(f"{where}: metadata.name: {name!r} is not a DNS-1123 subdomain")
    if kind in CORE_KINDS:
        if api != CORE_KINDS[kind]:
            errors.append(f"{where}: apiVersion: {api!r} is wrong for {kind}; expected {CORE_KINDS[kind]!r}")
        return errors
    group, _, version = api.rpartition("/")
    versions = crd_schemas().get((group, kind))
    if versions is None:
        known = sorted(f"{g}/{k}" for g, k in crd_schemas()) + sorted(CORE_KINDS)
        return errors + [f"{where}: apiVersion/kind: no vendored schema for {api!r} {kind!r}; known: {known}"]
    if version not in versions:
        return errors + [f"{where}: apiVersion: {api!r} is not served by the vendored {kind} CRD; "
                         f"served: {sorted(f'{group}/{v}' for v in versions)}"]
    validator = jsonschema.Draft7Validator(versions[version])
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        path = list(err.absolute_path)
        if err.validator == "additionalProperties":
            for extra in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                errors.append(f"{where}: {field_path(path + [extra])}: unknown field (not in the {kind} "
                              f"{version} schema)")
        else:
            errors.append(f"{where}: {field_path(path)}: {err.message}")
    return errors


def validate(obj: dict) -> list[str]:
    """Schema errors, then the KubeRay admission rules and medray's own (tests/k8s_policy.py)."""
    from tests.k8s_policy import validate_policy

    return validate_schema(obj) + validate_policy(obj)
