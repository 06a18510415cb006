"""The service's hardening without Ray Serve (fast): auth fails closed, the OOM rule of the retry, Ray's
backpressure as a typed 503, the request deadline and the baseline headers, the decode bound."""
import asyncio
import threading
import time

import pytest
from ray.exceptions import OutOfMemoryError, RayActorError
from ray.serve.exceptions import BackPressureError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from medray.config import ConfigError
from medray.serve.app import IngressSettings, MedrayIngress, _retrying
from medray.serve.auth import check_bearer
from medray.serve.errors import HTTPError, to_http
from medray.serve.middleware import Hardening


def test_no_token_no_service():
    with pytest.raises(ConfigError, match="MEDRAY_API_TOKEN.*--insecure-dev"):
        IngressSettings()
    assert IngressSettings(insecure_dev=True).insecure_dev
    with pytest.raises(HTTPError) as e:  # and the check itself fails closed if it is ever reached without one
        check_bearer(None, None, client_host="127.0.0.1")
    assert e.value.status == 401


def test_insecure_dev_answers_loopback_clients_only():
    check_bearer(None, None, insecure_dev=True, client_host="127.0.0.1")
    check_bearer(None, None, insecure_dev=True, client_host="::1")
    for host in ("10.1.2.3", None, "evil.example"):
        with pytest.raises(HTTPError) as e:
            check_bearer(None, None, insecure_dev=True, client_host=host)
        assert e.value.status == 403


def _count_calls(exc):
    calls = []

    async def call():
        calls.append(1)
        raise exc

    with pytest.raises(type(exc)):
        asyncio.run(_retrying(call, attempts=3))
    return len(calls)


def test_retry_after_a_crash_but_never_after_an_oom_kill():
    assert _count_calls(RayActorError(error_msg="The actor died unexpectedly: SIGSEGV")) == 3
    oom = RayActorError(error_msg="The actor died unexpectedly before finishing this task.\n"
                                  "Task was killed due to the node running low on memory (OOM).")
    assert _count_calls(oom) == 1
    assert _count_calls(OutOfMemoryError("node low on memory")) == 1
    http = to_http(oom)
    assert http.status == 503 and "Retry-After" in http.headers


def test_backpressure_is_a_typed_503_with_retry_after():
    http = to_http(BackPressureError(num_queued_requests=3, max_queued_requests=2, retry_after_s=2.5))
    assert (http.status, http.error, http.headers["Retry-After"]) == (503, "overloaded", "3")
    assert to_http(BackPressureError(num_queued_requests=3, max_queued_requests=2)).headers["Retry-After"] == "2"


def _client(timeout_s):
    async def slow(_request):
        await asyncio.sleep(5)
        return PlainTextResponse("late")

    async def fast(_request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/slow", slow), Route("/fast", fast)])
    return TestClient(Hardening(app, timeout_s=lambda: timeout_s))


def test_deadline_gives_a_typed_504_and_every_response_has_the_headers():
    c = _client(0.3)
    t0 = time.monotonic()
    r = c.get("/slow")
    assert time.monotonic() - t0 < 3
    assert r.status_code == 504 and r.json()["error"] == "timeout" and r.headers["Retry-After"]
    for r in (r, c.get("/fast"), c.get("/missing")):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
    assert c.get("/fast").text == "ok"


def test_decodes_are_bounded():
    """At most max_concurrent_decodes threads decode at once, however many requests arrive."""
    cls = MedrayIngress.func_or_class

    class Replica:
        _decode_slots = asyncio.Semaphore(2)

    running, peak, lock = [0], [0], threading.Lock()

    def decode(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return x

    async def burst():
        return await asyncio.gather(*[cls._decode(Replica, decode, i) for i in range(8)])

    assert asyncio.run(burst()) == list(range(8))
    assert peak[0] == 2


def test_ct_window_reaches_the_codecs_and_is_checked_at_the_edge():
    from medray.config import ConfigError
    from medray.serve.app import IngressSettings

    assert IngressSettings(insecure_dev=True, ct_window="bone").limits.ct_window == "bone"
    with pytest.raises(ConfigError, match="ct_window='x' is not valid"):
        IngressSettings(insecure_dev=True, ct_window="x")
