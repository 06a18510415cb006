"""Each overlay's work fits the pods its autoscaler may add: a Ray Train worker, a Tune trial or a Serve replica
that fits no worker group would stay pending forever, which no schema check can see."""
from __future__ import annotations

import math
import shlex

import pytest
import yaml

from tests.k8s_rendered import JOBS, PLATFORM, one, rendered

DRIVER_CPU = 0.1  # medray.tune.runner: each trial's driver; its Train workers hold the real resources


def cpu(q: str | int | float) -> float:
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def groups(spec: dict) -> list[dict]:
    """Per worker group: CPUs and GPUs one pod gives Ray, and the most pods the autoscaler may run."""
    out = []
    for g in spec["workerGroupSpecs"]:
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        out.append({"name": g["groupName"], "cpu": cpu(limits["cpu"]), "gpu": int(limits.get("nvidia.com/gpu", 0)),
                    "max": g["maxReplicas"], "min": g.get("minReplicas", 0)})
    return out


def fits(groups_: list[dict], n: int, cpu_each: float, gpu_each: float) -> bool:
    """Can n bundles of (cpu, gpu) be placed, each inside one pod, within the groups' maxReplicas? Greedy per group."""
    left = n
    for g in groups_:
        if g["cpu"] < cpu_each or g["gpu"] < gpu_each or g["max"] == 0:
            continue
        per_pod = math.floor(g["cpu"] / cpu_each) if cpu_each else n
        if gpu_each:
            per_pod = min(per_pod, g["gpu"] // math.ceil(gpu_each))
        left -= per_pod * g["max"]
        if left <= 0:
            return True
    return left <= 0


def job_argv(overlay: str, step: str) -> list[str]:
    return shlex.split(one(rendered(JOBS[overlay]), "RayJob", f"medray-{step}")["spec"]["entrypoint"])


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_training_workers_fit_the_jobs_cluster(overlay):
    argv = job_argv(overlay, "train")
    workers = int(argv[argv.index("--num-workers") + 1])
    gpu = 1 if "--use-gpu" in argv else 0
    g = groups(one(rendered(PLATFORM[overlay]), "RayCluster")["spec"])
    assert fits(g, workers, 1.0, gpu), f"{overlay}: {workers} Train workers (1 CPU, {gpu} GPU) do not fit {g}"


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_concurrent_tune_trials_fit_the_jobs_cluster(overlay):
    argv = job_argv(overlay, "tune")
    key = argv[2].rsplit("/", 1)[1]
    space = yaml.safe_load(one(rendered(PLATFORM[overlay]), "ConfigMap", "medray-tune-spaces")["data"][key])
    res, k = space["resources_per_trial"], space["max_concurrent_trials"]
    g = groups(one(rendered(PLATFORM[overlay]), "RayCluster")["spec"])
    assert fits(g, k * res["workers"], res["cpu"], res["gpu"]) and fits(g, k * (res["workers"] + 1), DRIVER_CPU, 0), \
        f"{overlay}: {k} concurrent trials of {res} do not fit {g}"
    if res["gpu"]:
        gpu_pods = sum(x["max"] for x in g if x["gpu"])
        assert k * res["workers"] <= gpu_pods


@pytest.mark.parametrize("overlay", sorted(PLATFORM))
def test_serve_replicas_fit_the_serve_cluster(overlay):
    svc = one(rendered(PLATFORM[overlay]), "RayService")["spec"]
    g = groups(svc["rayClusterConfig"])
    app = yaml.safe_load(svc["serveConfigV2"])["applications"][0]
    total_min = {"cpu": 0.0, "gpu": 0.0}
    for d in app["deployments"]:
        opts = d.get("ray_actor_options", {})
        c, gp = opts.get("num_cpus", 1), opts.get("num_gpus", 0)
        lo = d.get("num_replicas") or d["autoscaling_config"]["min_replicas"]
        hi = d.get("num_replicas") or d["autoscaling_config"]["max_replicas"]
        assert fits(g, 1, c, gp), f"{overlay}: one {d['name']} replica ({c} CPU, {gp} GPU) fits no group of {g}"
        assert fits(g, lo, c, gp), f"{overlay}: {lo} {d['name']} replicas do not fit {g}"
        if gp:  # GPU replicas scale only as far as GPU pods can
            assert hi <= sum(x["max"] for x in g if x["gpu"]), f"{overlay}: {d['name']} max_replicas > GPU pods"
        total_min["cpu"] += lo * c
        total_min["gpu"] += lo * gp
    cpu_cap = sum(x["cpu"] * x["max"] for x in g)
    assert total_min["cpu"] <= cpu_cap, f"{overlay}: minimum replicas need {total_min['cpu']} CPUs, cap {cpu_cap}"
    standing = sum(x["gpu"] * x["min"] for x in g)
    assert total_min["gpu"] <= standing or total_min["gpu"] == 0, f"{overlay}: min GPU replicas > standing GPU pods"
