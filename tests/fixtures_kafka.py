"""Session fixtures owned by the vitals side: one embedded tansu broker for the whole test session.

Started on a free loopback port, stopped by its PID at teardown. Tests use their own topic and group names
(``unique_topic``), so they never see each other's messages on the shared broker.
"""
import os
import re
import uuid

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """``HOST:PORT`` of a running tansu broker (memory storage)."""
    from medray.vitals.broker import start_broker

    broker = start_broker()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        assert not _pid_alive(broker.pid), f"tansu pid {broker.pid} still running after stop()"


@pytest.fixture
def unique_topic(request):
    """A fresh topic name per test (the broker is shared by the session)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:60]
    return f"t-{name}-{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A reaped child is gone; a zombie would still answer kill(0) — check its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
