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
