"""HTTP errors of the service: one exception type per status, and the mapping from medray's own errors.

Every refusal is a JSON body ``{"error": <short code>, "detail": <what was wrong and what is valid>}``; the
replica catches it and keeps serving.
"""
from __future__ import annotations

import math
import re

from medray.config import ConfigError, InputError

RETRY_AFTER_S = 2  # default Retry-After on 503/504: long enough for a queue to drain a batch

# InputError reasons that are not "undecodable body" (400) but a more specific status.
_REASON_STATUS = {"too_large": 413, "unsupported": 415, "bad_alpha": 422, "bad_channels": 422,
                  "not_configured": 503}


class HTTPError(Exception):
    """A refusal with an HTTP status and a stable error code."""

    def __init__(self, status: int, error: str, detail: str = "", headers: dict[str, str] | None = None):
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return {"error": self.error, "detail": self.detail}


def bad_params(detail: str) -> HTTPError:
    return HTTPError(422, "bad_parameter", detail)


def unsupported(detail: str) -> HTTPError:
    return HTTPError(415, "unsupported_media_type", detail)


def too_large(detail: str) -> HTTPError:
    return HTTPError(413, "too_large", detail)


def unauthorized(detail: str) -> HTTPError:
    return HTTPError(401, "unauthorized", detail)


def not_found(detail: str) -> HTTPError:
    return HTTPError(404, "not_found", detail)


def overloaded(detail: str, retry_after_s: float = RETRY_AFTER_S) -> HTTPError:
    """503 with ``Retry-After`` (whole seconds, RFC 9110): the request was refused, not lost; send it later."""
    return HTTPError(503, "overloaded", detail, {"Retry-After": str(max(1, math.ceil(retry_after_s)))})


def timed_out(seconds: float) -> HTTPError:
    return HTTPError(504, "timeout", f"the request did not finish within request_timeout_s={seconds:g}",
                     {"Retry-After": str(RETRY_AFTER_S)})


_OOM_RE = re.compile(r"out[ _-]of[ _-]memory|\boom\b|memory pressure|memory monitor", re.IGNORECASE)


def is_oom(exc: BaseException) -> bool:
    """Ray's out-of-memory kill: ``OutOfMemoryError``, or an actor death whose cause names OOM (the memory
    monitor's message, ``NODE_OUT_OF_MEMORY`` exit type). Such a request must not be resent: it would kill the
    next replica the same way."""
    from ray.exceptions import OutOfMemoryError, RayActorError

    exc = getattr(exc, "cause", None) or exc
    if isinstance(exc, OutOfMemoryError):
        return True
    return isinstance(exc, RayActorError) and bool(_OOM_RE.search(str(exc)))


def to_http(exc: BaseException) -> HTTPError | None:
    """Map medray's typed errors (and Ray's refusals under load) to HTTPError; None for anything else (a real
    bug → 500). An error raised inside another replica arrives wrapped (RayTaskError); its ``cause`` is the
    original."""
    from ray.serve.exceptions import BackPressureError

    exc = getattr(exc, "cause", None) or exc
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, BackPressureError):  # a model deployment's max_queued_requests is reached
        return overloaded(f"the service is at capacity ({exc.message}); retry later",
                          exc.retry_after_s or RETRY_AFTER_S)
    if is_oom(exc):
        return overloaded("the model replica ran out of memory on this request; it was not retried")
    if isinstance(exc, InputError):
        status = _REASON_STATUS.get(exc.reason, 400)
        return HTTPError(status, exc.reason, exc.detail)
    if isinstance(exc, ConfigError):
        return bad_params(str(exc))
    return None
