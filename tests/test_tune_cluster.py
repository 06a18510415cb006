"""A sweep names its cluster: a dashboard URL is refused for --address; a private Ray started by the sweep hands
its workers the address of its own state API, so Ray Train's placement-group cleaner works even with another
Ray instance running on the machine (the test session's)."""
import os
import subprocess
import sys

import pytest

from medray.config import ConfigError
from medray.tune.cluster import connect

PROBE = """
import os, ray
from medray.tune.cluster import connect
gcs = connect(None)

@ray.remote(num_cpus=0)
def probe():
    from ray.util.state import list_nodes  # what Train's cleaner does: the state API from inside a worker
    return os.environ.get("RAY_API_SERVER_ADDRESS"), len(list_nodes())

api, n_nodes = ray.get(probe.remote())
print("RESULT", gcs, api, n_nodes)
ray.shutdown()
"""


def test_dashboard_url_is_refused_as_address(monkeypatch):
    import ray

    if ray.is_initialized():
        pytest.skip("connect() reuses an initialised Ray")
    with pytest.raises(ConfigError, match="dashboard.*GCS address"):
        connect("http://127.0.0.1:8265")


@pytest.mark.timeout(300)
def test_private_ray_gives_workers_its_own_state_api(ray_session):
    # ray_session is a second Ray on this machine: an address guessed in a worker would be ambiguous
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(s for s in r.stdout.splitlines() if s.startswith("RESULT"))
    _, gcs, api, n_nodes = line.split()
    assert gcs != ray_session.get_runtime_context().gcs_address
    assert api.startswith("http://127.0.0.1:") and int(n_nodes) == 1
