"""Bearer-token check, closed by default. The token comes from ``MEDRAY_API_TOKEN`` where the app is built; only
its SHA-256 travels into the deployment config, so the secret itself never lands in Ray's metadata.

Without a token the service does not start, unless ``insecure_dev`` is set (``medray serve --insecure-dev``,
the demo): then it binds to loopback and, behind the proxy, still answers loopback clients only."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os

from medray.config import ConfigError
from medray.serve.errors import HTTPError, unauthorized

TOKEN_ENV = "MEDRAY_API_TOKEN"
LOOPBACK_HOST = "127.0.0.1"


def token_sha256_from_env() -> str | None:
    token = os.environ.get(TOKEN_ENV, "")
    return hashlib.sha256(token.encode()).hexdigest() if token else None


def require_token_or_insecure_dev(token_sha256: str | None, insecure_dev: bool) -> None:
    """Refuse to build an open service: a token, or the explicit development flag."""
    if not token_sha256 and not insecure_dev:
        raise ConfigError(f"{TOKEN_ENV} is not set: the HTTP API would be open to anyone who can reach it. "
                          f"Set {TOKEN_ENV}, or pass --insecure-dev (app arg insecure_dev: true) for a "
                          f"loopback-only development service")


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_bearer(authorization: str | None, token_sha256: str | None, *, insecure_dev: bool = False,
                 client_host: str | None = None) -> None:
    """With a token configured, ``Authorization: Bearer <token>`` must match (constant-time). Without one,
    only an insecure-dev service answers, and only loopback clients; anything else fails closed."""
    if not token_sha256:
        if insecure_dev and is_loopback(client_host):
            return
        if insecure_dev:
            raise HTTPError(403, "forbidden", "this is an --insecure-dev service without a token: loopback "
                                              "clients only")
        raise unauthorized(f"no {TOKEN_ENV} is configured on this service; it refuses every request")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("send 'Authorization: Bearer <token>' (this service requires MEDRAY_API_TOKEN)")
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    if not hmac.compare_digest(digest, token_sha256):
        raise unauthorized("the bearer token is not valid")
