"""Read a request body without ever holding more than the size limit: Content-Length is checked first and
the stream is cut off as soon as it passes the limit."""
from __future__ import annotations

from starlette.requests import Request

from medray.serve.errors import too_large


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(f"Content-Length {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"body passed the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
