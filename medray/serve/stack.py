"""The one serving stack: broker (unless a Kafka bootstrap is given) → topics → Ray → Serve app, torn down in
reverse on exit. ``medray serve``, the demo, the benchmarks and the tests all start the service through
``serving_stack``, so there is one launch sequence to keep right.

The default config ships in the package (``medray/serve/medray.yaml``). Only the public Serve API is used:
``serve.start(http_options=...)``, ``serve.run(app, name=, route_prefix=)``, ``serve.shutdown()``. The YAML's
per-deployment options (replicas, autoscaling, resources) are applied with ``.options`` by the typed builder
(``medray.serve.builders.medray_app``), so ``serve run serve_apps/medray.yaml`` and the stack deploy the same app.

Every process the stack starts is recorded by PID (the broker; Ray's node processes when the stack started Ray;
the Serve controller, proxy and replica workers) and, after the orderly shutdown, any still alive is killed by
that PID. Serve's processes are found by the titles Ray gives its actor workers (``ray::ServeReplica:...``)."""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from medray.config import ConfigError, check_range, from_dict, load_yaml

log = logging.getLogger(__name__)
DEFAULT_CONFIG = Path(__file__).with_name("medray.yaml")
BUILDER = "medray.serve.builders:build_medray_app"
SERVE_TITLES = ("ray::ServeController", "ray::ProxyActor", "ray::ServeReplica")


def load_serve_config(path: str | Path | None = None) -> dict[str, Any]:
    """The Serve config at ``path`` (default: the package's). It must hold exactly one application, the medray
    app built by ``BUILDER``: the stack builds that app itself rather than importing arbitrary targets."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    cfg = load_yaml(path)
    apps = cfg.get("applications")
    if not isinstance(apps, list) or len(apps) != 1 or not isinstance(apps[0], dict):
        raise ConfigError(f"{path}: 'applications' must list exactly one Serve application (the medray app)")
    if apps[0].get("import_path", BUILDER) != BUILDER:
        raise ConfigError(f"{path}: import_path {apps[0]['import_path']!r} is not {BUILDER!r}")
    return cfg


def apply_overrides(cfg: dict[str, Any], *, checkpoint: str | Path | None = None,
                    synth_checkpoint: str | Path | None = None, kafka: str | None = None, port: int | None = None,
                    host: str | None = None, args: dict[str, Any] | None = None,
                    deployments: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A copy of ``cfg`` with the given values in the application's args (checkpoint paths made absolute, since
    replicas run elsewhere), in ``http_options``, and merged into the per-deployment options by name."""
    cfg = copy.deepcopy(cfg)
    app = cfg["applications"][0]
    app_args = dict(app.get("args") or {})
    if checkpoint is not None:
        app_args["checkpoint"] = str(checkpoint)
    if synth_checkpoint is not None:
        app_args["synth_checkpoint"] = str(synth_checkpoint)
    if kafka is not None:
        app_args["kafka_bootstrap"] = _check_bootstrap(kafka)
    app_args.update(args or {})
    for key in ("checkpoint", "synth_checkpoint"):
        if app_args.get(key):
            app_args[key] = str(Path(app_args[key]).expanduser().resolve())
    app["args"] = app_args
    http = cfg.setdefault("http_options", {}) or {}
    cfg["http_options"] = http
    if port is not None:
        check_range("port", port, 1, 65535)
        http["port"] = port
    if host is not None:
        http["host"] = host
    by_name = {d["name"]: d for d in app.get("deployments") or []}
    for name, opts in (deployments or {}).items():
        by_name.setdefault(name, {"name": name}).update(opts)
    app["deployments"] = list(by_name.values())
    return cfg


def deployment_options(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{deployment name: .options(...) kwargs}`` of one config application; an application-level
    ``runtime_env`` goes to every deployment that sets none of its own."""
    env = app.get("runtime_env")
    out = {}
    for d in app.get("deployments") or []:
        opts = {k: v for k, v in d.items() if k != "name"}
        if env:
            actor = dict(opts.get("ray_actor_options") or {})
            actor.setdefault("runtime_env", env)
            opts["ray_actor_options"] = actor
        out[d["name"]] = opts
    return out


def _loopback_only(cfg: dict[str, Any], host: str | None) -> None:
    """An insecure-dev service (no token) listens on loopback only: the config's host (0.0.0.0 in the shipped
    YAML) is replaced; an explicit non-loopback ``host`` is refused."""
    from medray.serve.auth import LOOPBACK_HOST, is_loopback

    if host is not None and not is_loopback(host):
        raise ConfigError(f"host {host!r} with insecure_dev: an unauthenticated service binds to loopback only "
                          f"({LOOPBACK_HOST}); set MEDRAY_API_TOKEN to listen on {host}")
    cfg["http_options"]["host"] = host or LOOPBACK_HOST


def _check_bootstrap(bootstrap: str) -> str:
    host, _, port = str(bootstrap).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"kafka bootstrap {bootstrap!r} is not HOST:PORT")
    return bootstrap


def _app_args(cfg: dict[str, Any], overrides: dict[str, Any] | None = None):
    """The typed args (unknown keys and bad values refused by name), checkpoints checked before anything starts."""
    from pydantic import ValidationError

    from medray.serve.auth import require_token_or_insecure_dev, token_sha256_from_env
    from medray.serve.builders import MedrayAppArgs
    from medray.serve.model_loader import check_checkpoint_setting

    try:
        args = MedrayAppArgs.model_validate({**cfg["applications"][0]["args"], **(overrides or {})})
    except ValidationError as e:
        raise ConfigError(f"serve app args: {e}") from None
    from medray.pipelines.enhance import InferenceOptions
    from medray.weights import checkpoint_or_default

    from_dict(InferenceOptions, dict(args.inference), where="inference")  # backend/dtype refused by name
    check_checkpoint_setting(checkpoint_or_default(args.checkpoint or os.environ.get("MEDRAY_CHECKPOINT"), "sr", 2),
                             args.allow_untrained, "sr")
    synth = args.synth_checkpoint or os.environ.get("MEDRAY_SYNTH_CHECKPOINT")
    if synth:
        check_checkpoint_setting(synth, False, "synth")
    require_token_or_insecure_dev(token_sha256_from_env(), args.insecure_dev)
    return args


# ---------------------------------------------------------------- processes, by PID (Linux /proc)

def _parents() -> dict[int, int]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:  # the command may hold spaces and parentheses: the fields after the last ')' are fixed
                out[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def descendants(root: int) -> set[int]:
    parents, found, todo = _parents(), set(), [root]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p} - found
        found |= kids
        todo.extend(kids)
    return found


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running and not a zombie (a zombie has ended; only its parent's wait is missing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def serve_pids() -> set[int]:
    """Serve's controller, proxy and replica workers among this process's descendants."""
    return {p for p in descendants(os.getpid()) if _title(p).startswith(SERVE_TITLES)}


def _reap(pids: set[int], timeout_s: float) -> list[int]:
    """Wait for ``pids`` to end; SIGKILL the ones left at the deadline. Returns those that had to be killed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    killed = [p for p in sorted(pids) if alive(p)]
    for p in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    return killed


# ---------------------------------------------------------------- the stack

@dataclass
class ServeStack:
    url: str  # base URL of the medray app (extra apps at url + "/<name>")
    bootstrap: str  # Kafka bootstrap the vitals consumer reads
    config: dict[str, Any]  # the merged Serve config that was deployed
    apps: list[str] = field(default_factory=list)
    pids: dict[str, list[int]] = field(default_factory=dict)  # "broker", "ray", "serve": what the stack started

    def all_pids(self) -> list[int]:
        return sorted({p for ps in self.pids.values() for p in ps})


@contextlib.contextmanager
def serving_stack(config: str | Path | None = None, *, checkpoint: str | Path | None = None,
                  synth_checkpoint: str | Path | None = None, kafka: str | None = None, port: int | None = None,
                  host: str | None = None, args: dict[str, Any] | None = None,
                  deployments: dict[str, dict[str, Any]] | None = None,
                  extra_apps: dict[str, dict[str, Any]] | None = None, ray_init: dict[str, Any] | None = None,
                  broker_log: Path | None = None, stop_timeout_s: float = 30.0) -> Iterator[ServeStack]:
    """Start the medray service and yield a ``ServeStack``; on exit shut Serve down and stop, by PID, every
    process started here. ``kafka`` None → the embedded broker. ``extra_apps`` maps a name to arg overrides for
    another copy of the app at ``/<name>``. ``ray_init`` are ``ray.init`` kwargs, used only when Ray is not
    running yet (the stack then also shuts Ray down)."""
    import ray
    from ray import serve

    from medray.serve.builders import deployment_names, medray_app
    from medray.vitals.broker import ensure_topics, start_broker
    from medray.vitals.schema import DLQ_TOPIC, VITALS_TOPIC

    cfg = apply_overrides(load_serve_config(config), checkpoint=checkpoint, synth_checkpoint=synth_checkpoint,
                          kafka=kafka, port=port, host=host, args=args, deployments=deployments)
    app_cfg = cfg["applications"][0]
    for name in extra_apps or {}:
        if not name or not name.replace("-", "").replace("_", "").isalnum() or name == app_cfg["name"]:
            raise ConfigError(f"extra app name {name!r}: letters, digits, - and _, not {app_cfg['name']!r}")
    main_args = _app_args(cfg)  # refuse bad args / a missing checkpoint / no token before starting anything
    if main_args.insecure_dev:
        _loopback_only(cfg, host)
    valid = deployment_names(main_args.vitals_replicas)
    unknown = sorted(set(deployment_options(app_cfg)) - set(valid))
    if unknown:
        raise ConfigError(f"unknown deployment(s) {unknown}; valid ones are {list(valid)}")
    stack = ServeStack(url="", bootstrap=kafka or "", config=cfg, pids={"broker": [], "ray": [], "serve": []})
    broker, started_ray, serve_before = None, False, set()
    try:
        if kafka is None:
            broker = start_broker(log_path=broker_log)
            stack.pids["broker"] = [broker.pid]
            stack.bootstrap = app_cfg["args"]["kafka_bootstrap"] = broker.bootstrap
            log.info("embedded broker (tansu) on %s, pid %s", broker.bootstrap, broker.pid)
        ensure_topics(stack.bootstrap, [VITALS_TOPIC, DLQ_TOPIC])
        if not ray.is_initialized():
            before = descendants(os.getpid())
            ray.init(**(ray_init or {}))
            started_ray = True
            stack.pids["ray"] = sorted(descendants(os.getpid()) - before - set(stack.pids["broker"]))
        serve_before = serve_pids()  # a Serve already running here is not ours to count
        http = dict(cfg.get("http_options") or {})
        serve.start(http_options=http, proxy_location=cfg.get("proxy_location"))
        opts = deployment_options(app_cfg)
        targets = [(app_cfg["name"], app_cfg.get("route_prefix", "/"), {})]
        targets += [(name, f"/{name}", over) for name, over in (extra_apps or {}).items()]
        for name, prefix, over in targets:
            serve.run(medray_app(_app_args(cfg, over), opts), name=name, route_prefix=prefix)
            stack.apps.append(name)
        stack.pids["serve"] = sorted(serve_pids() - serve_before)
        h = http.get("host", "127.0.0.1")
        stack.url = f"http://{'127.0.0.1' if h in ('0.0.0.0', '::') else h}:{http.get('port', 8000)}"
        yield stack
    finally:
        _teardown(stack, broker, started_ray, serve_before, stop_timeout_s)


def _teardown(stack: ServeStack, broker, started_ray: bool, serve_before: set[int], timeout_s: float) -> None:
    import ray
    from ray import serve

    if ray.is_initialized():
        # replicas started after the deploy (autoscaling, replacements) are ours too
        stack.pids["serve"] = sorted(set(stack.pids["serve"]) | (serve_pids() - serve_before))
        if started_ray:
            stack.pids["ray"] = sorted(set(stack.pids["ray"]) |
                                       {d for p in stack.pids["ray"] if alive(p) for d in descendants(p)})
        try:
            serve.shutdown()
        except Exception as e:  # noqa: BLE001 - Serve may never have started; the PIDs below still get stopped
            log.warning("serve.shutdown failed: %s", e)
        if started_ray:
            ray.shutdown()
    if broker is not None:
        broker.stop()
    killed = _reap(set(stack.all_pids()), timeout_s)
    if killed:
        log.warning("killed by PID after an orderly shutdown left them running: %s", killed)
