"""Optional bearer-token check. The token comes from ``MEDRAY_API_TOKEN`` where the app is built; only its
SHA-256 travels into the deployment config, so the secret itself never lands in Ray's metadata."""
from __future__ import annotations

import hashlib
import hmac
import os

from medray.serve.errors import unauthorized

TOKEN_ENV = "MEDRAY_API_TOKEN"


def token_sha256_from_env() -> str | None:
    token = os.environ.get(TOKEN_ENV, "")
    return hashlib.sha256(token.encode()).hexdigest() if token else None


def check_bearer(authorization: str | None, token_sha256: str | None) -> None:
    """No configured token → open service. Otherwise ``Authorization: Bearer <token>`` must match."""
    if not token_sha256:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("send 'Authorization: Bearer <token>' (this service requires MEDRAY_API_TOKEN)")
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    if not hmac.compare_digest(digest, token_sha256):
        raise unauthorized("the bearer token is not valid")
