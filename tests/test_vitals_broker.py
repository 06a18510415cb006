"""Embedded tansu: located in the wheel, answers Kafka on loopback, topics idempotent, stopped by PID."""
import os

import pytest

from medray.config import ConfigError
from medray.vitals import broker as b


def test_tansu_is_shipped_in_the_wheel():
    p = b.tansu_path()
    assert p.name == "tansu" and os.access(p, os.X_OK)
    cmd = b.broker_command(1234)
    assert cmd[1:] == ["broker", "--storage-engine", "memory://tansu/", "--listener-url", "tcp://127.0.0.1:1234",
                       "--advertised-listener-url", "tcp://127.0.0.1:1234"]


def test_start_ready_stop_by_pid():
    broker = b.start_broker()
    try:
        host, port = broker.bootstrap.split(":")
        assert host == "127.0.0.1" and b.kafka_ready(host, int(port))
        os.kill(broker.pid, 0)
    finally:
        broker.stop()
    assert not broker.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(broker.pid, 0)
    assert not b.kafka_ready(host, int(port), timeout_s=0.5)


def test_port_in_use_is_a_clear_error(kafka_bootstrap):
    port = int(kafka_bootstrap.split(":")[1])
    with pytest.raises(RuntimeError, match="already in use"):
        b.start_broker(port=port, timeout_s=5)


def test_ensure_topics_is_idempotent(kafka_bootstrap, unique_topic):
    assert b.ensure_topics(kafka_bootstrap, [unique_topic, unique_topic + ".dlq"], partitions=2) == \
        [unique_topic, unique_topic + ".dlq"]
    assert b.ensure_topics(kafka_bootstrap, [unique_topic]) == []
    with pytest.raises(ConfigError, match="partitions"):
        b.ensure_topics(kafka_bootstrap, ["x"], partitions=0)


def test_a_plain_socket_is_not_mistaken_for_kafka():
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def answer():
        conn, _ = srv.accept()
        conn.recv(100)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    t = threading.Thread(target=answer)
    t.start()
    assert not b.kafka_ready("127.0.0.1", srv.getsockname()[1])
    t.join()
    srv.close()


def test_medray_broker_command_runs_in_foreground_until_sigterm():
    import signal
    import subprocess
    import sys
    import time

    from medray.ports import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "medray.cli", "broker", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not b.kafka_ready("127.0.0.1", port) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        line = ""
        while not line.startswith("medray broker:"):  # skip log lines
            line = proc.stdout.readline()
            assert line, "medray broker exited without its banner"
        assert f"127.0.0.1:{port}" in line and "medray.vitals.dlq" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, out
    assert not b.kafka_ready("127.0.0.1", port, timeout_s=0.5)  # tansu went with it
