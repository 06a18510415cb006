"""One image tag, one Ray version, one operator version each — the same in every file that names them —
and the local Ray config is one Ray's cluster launcher accepts."""
from __future__ import annotations

import copy

import yaml

from tests.k8s_rendered import PLATFORM, PYPROJECT, ROOT, clusters, pods, rendered


def test_image_tag_ray_version_and_python_agree_across_files():
    base = yaml.safe_load((ROOT / "k8s/base/kustomization.yaml").read_text())
    (image,) = base["images"]
    tag = image["newTag"]
    assert tag == PYPROJECT["project"]["version"], "image tag = medray version"
    ray_pin = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("ray["))
    ray_version = ray_pin.split("==")[1]
    torch_version = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch==")).split("==")[1]
    for overlay, path in PLATFORM.items():
        images = {c["image"] for _, spec in clusters(rendered(path)) for _, g in pods(spec)
                  for c in g["template"]["spec"]["containers"]}
        assert len(images) == 1, f"{overlay}: one image for every Ray pod, got {images}"
        flavour = "cuda" if overlay == "gpu-prod" else "cpu"
        assert images == {f"medray-{flavour}:{tag}"}
        for _, spec in clusters(rendered(path)):
            assert spec["rayVersion"] == ray_version
    doc = (ROOT / "docs/deploy.md").read_text()
    for flavour, base_suffix in (("cpu", "cpu"), ("cuda", "gpu")):
        df = (ROOT / f"docker/Dockerfile.{flavour}").read_text()
        assert f"ARG RAY_VERSION={ray_version}\n" in df
        assert f"FROM rayproject/ray:${{RAY_VERSION}}-py311-{base_suffix}\n" in df
        assert f"ARG TORCH_VERSION={torch_version}\n" in df
        assert f"-t medray-{flavour}:{tag} ." in df and f"-t medray-{flavour}:{tag} ." in doc
    assert PYPROJECT["project"]["requires-python"].startswith(">=3.11"), "py311 base images"


def test_operator_versions_agree_between_values_docs_and_vendored_schemas():
    provenance = (ROOT / "tests/k8s_schemas/PROVENANCE.md").read_text()
    doc = (ROOT / "docs/deploy.md").read_text()
    kuberay = yaml.safe_load((ROOT / "cluster/kuberay-operator.values.yaml").read_text())
    assert kuberay["image"]["tag"] == "v1.7.0" and "KubeRay v1.7.0" in provenance and "--version 1.7.0" in doc
    assert "Strimzi 1.2.0" in provenance and "--version 1.2.0" in doc
    assert set(kuberay["watchNamespace"]) == {o["metadata"]["namespace"] for p in PLATFORM.values()
                                             for o in rendered(p)}


def test_local_cluster_config_is_a_valid_ray_cluster_launcher_config():
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = yaml.safe_load((ROOT / "cluster/local.yaml").read_text())
    assert cfg["provider"]["type"] == "local" and cfg["max_workers"] == 0
    validate_config(prepare_config(copy.deepcopy(cfg)))
