"""``medray serve``: start the embedded broker when no ``--kafka`` is given, create the topics, deploy the
Serve config (serve_apps/medray.yaml) with the CLI's overrides, print the URLs and wait for Ctrl-C.

The config goes through Serve's own config path (the same one ``serve run medray.yaml`` takes), so the
YAML's per-deployment replicas, autoscaling and resources apply identically either way."""
from __future__ import annotations

import copy
import logging
import signal
import time
from pathlib import Path
from typing import Any

from medray.config import ConfigError, load_yaml
from medray.serve.model_loader import check_checkpoint_setting

log = logging.getLogger(__name__)
APP_NAME = "medray"


def load_serve_config(path: str | Path) -> dict[str, Any]:
    cfg = load_yaml(path)
    apps = cfg.get("applications")
    if not isinstance(apps, list) or not apps or not isinstance(apps[0], dict):
        raise ConfigError(f"{path}: 'applications' must be a non-empty list of Serve applications")
    return cfg


def apply_overrides(cfg: dict[str, Any], *, checkpoint: str | Path | None = None, kafka: str | None = None,
                    port: int | None = None, args: dict[str, Any] | None = None,
                    deployments: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A copy of ``cfg`` with CLI values in the first application's args (paths made absolute, since
    replicas run elsewhere) and per-deployment option overrides merged by deployment name."""
    cfg = copy.deepcopy(cfg)
    app = cfg["applications"][0]
    app_args = app.setdefault("args", {}) or {}
    app["args"] = app_args
    if checkpoint is not None:
        app_args["checkpoint"] = str(Path(checkpoint).resolve())
    for key in ("checkpoint", "synth_checkpoint"):
        if app_args.get(key):
            app_args[key] = str(Path(app_args[key]).expanduser().resolve())
    if kafka is not None:
        app_args["kafka_bootstrap"] = kafka
    app_args.update(args or {})
    if port is not None:
        cfg.setdefault("http_options", {})["port"] = port
    by_name = {d["name"]: d for d in app.setdefault("deployments", [])}
    for name, opts in (deployments or {}).items():
        by_name.setdefault(name, {"name": name})
        by_name[name].update(opts)
    app["deployments"] = list(by_name.values())
    return cfg


def deploy(cfg: dict[str, Any], timeout_s: float = 600.0) -> str:
    """Deploy ``cfg`` on the connected Ray cluster and wait until the app is RUNNING; returns the base URL."""
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(cfg)
    client = serve_api.serve_start(http_options=schema.http_options.model_dump(),
                                   proxy_location=schema.proxy_location)
    client.deploy_apps(schema)
    name = schema.applications[0].name
    deadline = time.monotonic() + timeout_s
    while True:
        app = serve.status().applications.get(name)
        state = getattr(app, "status", None)
        if state == "RUNNING":
            break
        if state == "DEPLOY_FAILED":
            raise ConfigError(f"Serve app {name!r} failed to deploy: {app.message}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"Serve app {name!r} not running after {timeout_s:.0f} s (status {state})")
        time.sleep(0.5)
    host = schema.http_options.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{host}:{schema.http_options.port}"


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def serve_from_cli(args) -> int:
    import ray
    from ray import serve

    from medray.vitals.broker import ensure_topics, start_broker
    from medray.vitals.schema import DLQ_TOPIC, VITALS_TOPIC

    cfg = apply_overrides(load_serve_config(args.config), checkpoint=args.checkpoint, kafka=args.kafka,
                          port=args.port)
    app_args = cfg["applications"][0]["args"]
    check_checkpoint_setting(app_args.get("checkpoint"), bool(app_args.get("allow_untrained")), "iotgan")
    broker = None
    try:
        if not args.kafka:
            broker = start_broker()
            cfg["applications"][0]["args"]["kafka_bootstrap"] = broker.bootstrap
            log.info("embedded broker (tansu) on %s, pid %s", broker.bootstrap, broker.pid)
        ensure_topics(cfg["applications"][0]["args"]["kafka_bootstrap"], [VITALS_TOPIC, DLQ_TOPIC])
        if not ray.is_initialized():
            ray.init(namespace="serve")
        # SIGTERM (docker stop, kill) shuts down as cleanly as Ctrl-C; set after ray.init, which installs its own.
        signal.signal(signal.SIGTERM, _interrupt)
        url = deploy(cfg)
        print(f"medray serving at {url}/  (API docs {url}/docs, health {url}/healthz); "
              f"vitals from {cfg['applications'][0]['args']['kafka_bootstrap']}. Ctrl-C stops.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        try:
            if ray.is_initialized():
                serve.shutdown()
        finally:
            if broker is not None:
                broker.stop()
