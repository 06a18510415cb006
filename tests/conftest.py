"""Session fixtures. Each owner keeps its fixtures in its own plugin module (tests/fixtures_*.py):
Ray is started once per session, the broker once per session, and every process a fixture starts is
stopped by its PID at teardown."""
import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TQDM_DISABLE", "1")

pytest_plugins = [
    "tests.fixtures_data",
    "tests.fixtures_ray",
    "tests.fixtures_kafka",
    "tests.fixtures_orthanc",
]


def pytest_collection_modifyitems(config, items):
    """MEDRAY_SKIP_SLOW=1: skip the `slow` end-to-end tests (drills, sweeps, demo) for a quick local loop.
    CI runs them all."""
    import pytest

    if os.environ.get("MEDRAY_SKIP_SLOW") != "1":
        return
    skip = pytest.mark.skip(reason="slow test skipped: MEDRAY_SKIP_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
