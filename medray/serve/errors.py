"""HTTP errors of the service: one exception type per status, and the mapping from medray's own errors.

Every refusal is a JSON body ``{"error": <short code>, "detail": <what was wrong and what is valid>}``; the
replica catches it and keeps serving.
"""
from __future__ import annotations

from medray.config import ConfigError, InputError

# InputError reasons that are not "undecodable body" (400) but a more specific status.
_REASON_STATUS = {"too_large": 413, "unsupported": 415, "bad_alpha": 422, "bad_channels": 422,
                  "not_configured": 503}


class HTTPError(Exception):
    """A refusal with an HTTP status and a stable error code."""

    def __init__(self, status: int, error: str, detail: str = ""):
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail

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


def to_http(exc: BaseException) -> HTTPError | None:
    """Map medray's typed errors to HTTPError; None for anything else (a real bug → 500). An error raised
    inside another replica arrives wrapped (RayTaskError); its ``cause`` is the original."""
    exc = getattr(exc, "cause", None) or exc
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, InputError):
        status = _REASON_STATUS.get(exc.reason, 400)
        return HTTPError(status, exc.reason, exc.detail)
    if isinstance(exc, ConfigError):
        return bad_params(str(exc))
    return None
