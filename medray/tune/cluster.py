"""Connect a sweep to the Ray cluster it runs on, explicitly.

Without an address, ``ray.init`` (and any Ray helper that resolves an address in a worker, e.g. Ray Train's
placement-group cleaner through the state API) looks for "the" local cluster and fails with "Found multiple
active Ray instances" as soon as a second Ray runs on the machine. So the sweep names its cluster:

- ``--address HOST:PORT`` (the GCS address ``ray start --head`` prints), else ``RAY_ADDRESS`` (set by
  ``ray job submit`` for its entrypoint), connects to that cluster;
- neither: a private local Ray is started, with its dashboard on a free port (the state API lives there).

Either way every worker of the sweep gets ``RAY_ADDRESS`` / ``RAY_API_SERVER_ADDRESS`` of this very cluster
through the job's runtime env, so nothing in a trial has to guess.
"""
from __future__ import annotations

import logging
import os

from medray.config import ConfigError
from medray.ports import HOST, free_port

log = logging.getLogger(__name__)


def _check_address(address: str) -> str:
    if address.startswith(("http://", "https://")):
        raise ConfigError(f"--address {address!r} is a dashboard (job submission) URL; give the cluster's GCS "
                          "address HOST:PORT (what `ray start --head` prints) or 'auto'")
    return address


def connect(address: str | None = None) -> str:
    """Connect to (or start) the sweep's Ray cluster; returns its GCS address. Reuses an initialised Ray."""
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context().gcs_address
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        from ray._private.services import canonicalize_bootstrap_address_or_die

        gcs = canonicalize_bootstrap_address_or_die(_check_address(address))
        log.info("medray tune: connecting to the Ray cluster at %s", gcs)
        ray.init(address=gcs, runtime_env={"env_vars": {"RAY_ADDRESS": gcs}})
        return gcs
    dash = free_port()
    # the dashboard is on: Ray Train's placement-group cleaner needs the state API it serves
    ray.init(include_dashboard=True, dashboard_host=HOST, dashboard_port=dash,
             runtime_env={"env_vars": {"RAY_API_SERVER_ADDRESS": f"http://{HOST}:{dash}"}})
    gcs = ray.get_runtime_context().gcs_address
    log.info("medray tune: started a private local Ray (GCS %s, dashboard http://%s:%d)", gcs, HOST, dash)
    return gcs
