"""The serving stack (medray/serve/stack.py): its default config is the package's, bad settings are refused
before anything starts, and a started stack answers /healthz, applies the per-deployment options and, once
exited, leaves none of the processes it started running."""
import os
from pathlib import Path

import pytest
import requests

from medray.config import ConfigError
from medray.serve import stack as stack_mod
from medray.serve.stack import DEFAULT_CONFIG, alive, load_serve_config, serving_stack

ROOT = Path(__file__).resolve().parents[1]


def test_serve_run_copy_is_the_package_default():
    assert (ROOT / "serve_apps" / "medray.yaml").read_text() == DEFAULT_CONFIG.read_text()
    assert load_serve_config()["applications"][0]["import_path"] == "medray.serve.builders:build_medray_app"


def test_cli_serve_flags():
    from medray.cli import build_parser

    a = build_parser().parse_args(["serve", "--synth-checkpoint", "s.pt", "--kafka", "h:1", "--port", "8100"])
    assert (str(a.synth_checkpoint), a.kafka, a.port, a.config, a.insecure_dev) == ("s.pt", "h:1", 8100, None, False)
    assert build_parser().parse_args(["serve", "--insecure-dev"]).insecure_dev


def test_shipped_config_bounds_queues_and_memory():
    deps = {d["name"]: d for d in load_serve_config()["applications"][0]["deployments"]}
    for name in ("MedrayIngress", "Enhancer", "Synthesizer"):
        assert deps[name]["max_queued_requests"] > 0, name
        assert deps[name]["ray_actor_options"]["memory"] >= 2**29, name
    assert deps["MedrayIngress"]["backpressure_config"]["retry_after_s"] > 0


DEV = {"allow_untrained": True, "insecure_dev": True}


@pytest.mark.parametrize("kwargs,match", [
    ({"args": {**DEV, "typo_key": 1}}, "typo_key"),
    ({"checkpoint": "/nonexistent/x.pt"}, "does not exist"),
    ({"args": DEV, "deployments": {"Enhancr": {"num_replicas": 1}}}, "Enhancr"),
    ({"args": DEV, "extra_apps": {"a/b": {}}}, "a/b"),
    ({"args": {"allow_untrained": True}}, "MEDRAY_API_TOKEN is not set"),  # no token, no service
    ({"args": DEV, "host": "0.0.0.0"}, "loopback only"),  # no token: never on every interface
    ({"args": {**DEV, "inference": {"backend": "tensorrt"}}}, r"backend='tensorrt'.*\['eager', 'onnx'\]"),
])
def test_bad_settings_start_nothing(monkeypatch, kwargs, match):
    started = []
    monkeypatch.setattr("medray.vitals.broker.start_broker", lambda **kw: started.append(kw))
    monkeypatch.delenv("MEDRAY_CHECKPOINT", raising=False)
    monkeypatch.delenv("MEDRAY_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=match):
        with serving_stack(**kwargs):
            pass
    assert started == []


@pytest.mark.slow  # one Serve deployment: ~1-2 min on 2 cores
def test_stack_serves_and_stops_every_pid_it_started(monkeypatch):
    from ray import serve

    from medray.ports import free_port

    small = {"ray_actor_options": {"num_cpus": 0.1}}
    deployments = {"MedrayIngress": small, "Synthesizer": small, "VitalsService": small,
                   "Enhancer": {**small, "num_replicas": 2, "autoscaling_config": None}}
    ray_init = dict(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    monkeypatch.delenv("MEDRAY_API_TOKEN", raising=False)
    with serving_stack(port=free_port(), deployments=deployments, ray_init=ray_init,
                       args={**DEV, "vitals_group": "stack-test"}) as st:
        assert st.config["http_options"]["host"] == "127.0.0.1"  # insecure-dev: loopback, not the YAML's 0.0.0.0
        r = requests.get(f"{st.url}/healthz", timeout=60)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        # no token needed from loopback: the client address reaches the ingress through Serve's proxy
        assert requests.get(f"{st.url}/v1/models", timeout=60).status_code == 200
        enh = serve.status().applications["medray"].deployments["Enhancer"].replica_states
        assert sum(n for s, n in enh.items() if str(getattr(s, "value", s)) == "RUNNING") == 2  # YAML options applied
        assert len(st.pids["broker"]) == 1 and st.bootstrap.startswith("127.0.0.1:")
        # controller, proxy and one worker per replica (ingress, 2 enhancers, synthesizer, vitals)
        assert len(st.pids["serve"]) >= 7, st.pids
        assert all(alive(p) for p in st.all_pids())
        pids = st.all_pids()
    left = [p for p in pids if alive(p)]
    assert left == [], {p: stack_mod._title(p) for p in left}
    assert os.getpid() not in pids
