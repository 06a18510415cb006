"""A small kustomize renderer in Python, so the tests check the overlays as `kubectl apply -k` would see them.

It implements exactly the kustomization fields medray's `k8s/` uses and refuses any other field by name, so a
feature it does not model can never be silently skipped:
  resources (files and directories), namespace, labels (metadata only), images, patches (JSON6902 op lists, or
  merge patches), configMapGenerator / secretGenerator (files + literals, with `disableNameSuffixHash`).
Merge patches are applied as JSON merge patches (RFC 7386): that is what kustomize does for custom resources,
whose schema it does not know — maps merge, lists are replaced whole, null deletes. Use JSON6902 to touch a list item.
Independent of medray (needs only PyYAML)."""
from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
KNOWN_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches",
                "configMapGenerator", "secretGenerator", "generatorOptions"}
# Kinds that live outside namespaces: the namespace transformer leaves them alone.
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                  "PersistentVolume", "StorageClass", "PriorityClass"}


class RenderError(ValueError):
    """A kustomization this renderer cannot render faithfully; the message names the file and field."""


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.load_all(path.read_text(), Loader=_Loader) if d is not None]


def render(kdir: Path) -> list[dict]:
    """Render the kustomization in `kdir` (base or overlay) into a list of manifests."""
    kdir = Path(kdir)
    kfile = kdir / "kustomization.yaml"
    if not kfile.is_file():
        raise RenderError(f"{kdir}: no kustomization.yaml")
    k = yaml.load(kfile.read_text(), Loader=_Loader) or {}
    unknown = sorted(set(k) - KNOWN_FIELDS)
    if unknown:
        raise RenderError(f"{kfile}: field(s) {unknown} are not modelled by tests/k8s_render.py; "
                          f"supported: {sorted(KNOWN_FIELDS)}")
    objs: list[dict] = []
    for res in k.get("resources", []):
        p = (kdir / res).resolve()
        objs.extend(render(p) if p.is_dir() else load_docs(p))
    objs.extend(_generate(kdir, k, kfile))
    for i, patch in enumerate(k.get("patches", [])):
        _apply_patch(objs, kdir, patch, f"{kfile}: patches[{i}]")
    if "namespace" in k:
        for o in objs:
            if o.get("kind") not in CLUSTER_SCOPED:
                o.setdefault("metadata", {})["namespace"] = k["namespace"]
    for i, lab in enumerate(k.get("labels", [])):
        if lab.get("includeSelectors") or lab.get("includeTemplates"):
            raise RenderError(f"{kfile}: labels[{i}]: includeSelectors/includeTemplates are not modelled")
        for o in objs:
            o.setdefault("metadata", {}).setdefault("labels", {}).update(lab.get("pairs", {}))
    for img in k.get("images", []):
        for o in objs:
            _set_image(o, img)
    _check_unique(objs, kfile)
    return objs


def _generate(kdir: Path, k: dict, kfile: Path) -> list[dict]:
    """configMapGenerator/secretGenerator. Without a hash suffix only: kustomize does not rewrite the names
    it hashes inside custom resources (RayCluster pod templates), so a suffix would break the volume references."""
    out = []
    opts = k.get("generatorOptions", {})
    for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for i, gen in enumerate(k.get(field, [])):
            where = f"{kfile}: {field}[{i}]"
            if not (opts.get("disableNameSuffixHash") or gen.get("options", {}).get("disableNameSuffixHash")):
                raise RenderError(f"{where}: set generatorOptions.disableNameSuffixHash: true (kustomize does not "
                                  "rewrite hashed names inside custom resources)")
            extra = sorted(set(gen) - {"name", "files", "literals", "options", "type"})
            if extra:
                raise RenderError(f"{where}: field(s) {extra} are not modelled")
            data: dict[str, str] = {}
            for spec in gen.get("files", []):
                key, _, rel = spec.partition("=") if "=" in spec else (Path(spec).name, "", spec)
                path = (kdir / rel).resolve()
                if not path.is_relative_to(kdir.resolve()):
                    raise RenderError(f"{where}: {rel} is outside the kustomization root (kustomize refuses it)")
                data[key] = path.read_text()
            for lit in gen.get("literals", []):
                key, _, value = lit.partition("=")
                data[key] = value
            meta = {"name": gen["name"]}
            labels = {**opts.get("labels", {}), **gen.get("options", {}).get("labels", {})}
            if labels:
                meta["labels"] = labels
            obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": meta}
            if kind == "Secret":
                obj["type"] = gen.get("type", "Opaque")
                obj["data"] = {kk: base64.b64encode(v.encode()).decode() for kk, v in data.items()}
            else:
                obj["data"] = data
            out.append(obj)
    return out


def _matches(o: dict, target: dict) -> bool:
    group, _, version = o.get("apiVersion", "").rpartition("/")
    checks = {"kind": o.get("kind"), "name": o.get("metadata", {}).get("name"), "group": group, "version": version}
    return all(checks[key] == val for key, val in target.items() if key in checks)


def _apply_patch(objs: list[dict], kdir: Path, patch: dict, where: str) -> None:
    body = patch.get("patch")
    if body is None:
        body = (kdir / patch["path"]).read_text()
    doc = yaml.load(body, Loader=_Loader)
    extra = sorted(set(patch.get("target", {})) - {"kind", "name", "group", "version"})
    if extra:
        raise RenderError(f"{where}: target field(s) {extra} are not modelled")
    if isinstance(doc, list):  # JSON6902
        target = patch.get("target")
        if not target:
            raise RenderError(f"{where}: a JSON6902 patch needs a target")
    else:
        target = patch.get("target") or {"kind": doc.get("kind"), "name": doc.get("metadata", {}).get("name")}
    hits = [o for o in objs if _matches(o, target)]
    if not hits:
        raise RenderError(f"{where}: target {target} matches no resource")
    for o in hits:
        if isinstance(doc, list):
            for j, op in enumerate(doc):
                _json6902(o, op, f"{where} op {j}")
        else:
            merged = merge_patch(o, doc)
            o.clear()
            o.update(merged)


def merge_patch(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for key, val in patch.items():
        if val is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), val)
    return out


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RenderError(f"JSON pointer {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json6902(obj: dict, op: dict, where: str) -> None:
    kind = op.get("op")
    if kind not in {"add", "replace", "remove", "test"}:
        raise RenderError(f"{where}: op {kind!r} not modelled; valid: add, replace, remove, test")
    *parents, last = _pointer(op["path"])
    node: Any = obj
    for part in parents:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError):
            raise RenderError(f"{where}: path {op['path']} does not exist (at {part!r})") from None
    if isinstance(node, list):
        idx = len(node) if last == "-" else int(last)
        if kind == "add":
            node.insert(idx, copy.deepcopy(op["value"]))
            return
        if not 0 <= idx < len(node):
            raise RenderError(f"{where}: index {idx} out of range for {op['path']}")
    elif kind != "add" and last not in node:
        raise RenderError(f"{where}: path {op['path']} does not exist")
    else:
        idx = last
    if kind == "remove":
        del node[idx]
    elif kind == "test":
        if node[idx] != op["value"]:
            raise RenderError(f"{where}: test failed at {op['path']}: {node[idx]!r} != {op['value']!r}")
    else:
        node[idx] = copy.deepcopy(op["value"])


def _set_image(node: Any, img: dict) -> None:
    """kustomize's image transformer: every `containers`/`initContainers` list anywhere in the object."""
    if isinstance(node, dict):
        for key, val in node.items():
            if key in ("containers", "initContainers") and isinstance(val, list):
                for c in val:
                    if isinstance(c, dict) and isinstance(c.get("image"), str):
                        c["image"] = _retag(c["image"], img)
            _set_image(val, img)
    elif isinstance(node, list):
        for item in node:
            _set_image(item, img)


def _retag(image: str, img: dict) -> str:
    name, digest = image.split("@", 1) if "@" in image else (image, None)
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    if name != img["name"]:
        return image
    name = img.get("newName", name)
    if "digest" in img:
        return f"{name}@{img['digest']}"
    tag = img.get("newTag", tag)
    return f"{name}:{tag}" if tag else (f"{name}@{digest}" if digest else name)


def _check_unique(objs: list[dict], kfile: Path) -> None:
    seen = set()
    for o in objs:
        key = (o.get("apiVersion"), o.get("kind"), o.get("metadata", {}).get("namespace"),
               o.get("metadata", {}).get("name"))
        if key in seen:
            raise RenderError(f"{kfile}: duplicate resource {key}")
        seen.add(key)
