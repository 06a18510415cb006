"""The overlays rendered once per session, and small accessors the k8s tests share."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

import yaml

from tests.k8s_render import render

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = {"cpu-dev": ROOT / "k8s/overlays/cpu-dev", "gpu-prod": ROOT / "k8s/overlays/gpu-prod"}
JOBS = {name: path / "jobs" for name, path in PLATFORM.items()}
ALL = {**PLATFORM, **{f"{n}/jobs": p for n, p in JOBS.items()}}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@lru_cache(maxsize=None)
def rendered(path: Path) -> tuple:
    return tuple(render(path))


def one(objs, kind, name=None) -> dict:
    hits = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]


def clusters(objs):
    """(where, RayCluster spec) for the jobs cluster and the Serve cluster."""
    return [("RayCluster", one(objs, "RayCluster")["spec"]),
            ("RayService", one(objs, "RayService")["spec"]["rayClusterConfig"])]


def pods(spec):
    yield "head", spec["headGroupSpec"]
    for g in spec["workerGroupSpecs"]:
        yield g["groupName"], g


def serve_config(objs) -> dict:
    return yaml.safe_load(one(objs, "RayService")["spec"]["serveConfigV2"])
