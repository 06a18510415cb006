"""ASGI middleware of the ingress: a deadline on every request and the headers every response carries.

Pure ASGI (not ``BaseHTTPMiddleware``) so a timed-out request is cancelled where it waits and the client gets a
typed JSON 504 instead of a connection held open; once a response has started it can no longer be replaced,
so the deadline then only cancels."""
from __future__ import annotations

import asyncio
import json
from typing import Callable

from medray.serve.errors import HTTPError, timed_out

# every response: no MIME sniffing of images/JSON into HTML, no URL (query: patient id) leaked as a Referer
BASE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def send_error(send, err: HTTPError) -> None:
    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in {**err.headers, **BASE_HEADERS}.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Hardening:
    """``timeout_s()`` is read per request (the ingress's settings live on the replica, not on the app); None
    or 0 means no deadline."""

    def __init__(self, app, timeout_s: Callable[[], float | None]):
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in BASE_HEADERS.items()
                         if k.lower().encode() not in present]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        deadline = self.timeout_s() or None
        timer = asyncio.timeout(deadline)
        try:
            async with timer:
                await self.app(scope, receive, send_with_headers)
        except TimeoutError:
            if started or not timer.expired():  # a TimeoutError of the app's own is not the deadline
                raise
            await send_error(send, timed_out(deadline))
