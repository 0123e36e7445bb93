"""Request bodies read with a size cap, shared by the REST gateways."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The raw body, or None beyond `limit` bytes (refused, not truncated).

    A declared Content-Length over the cap is refused before a byte is read,
    so no client can make the venue buffer an unbounded body; a client that
    leaves mid-body also gets None (nothing was done, nobody reads a reply)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except ClientDisconnect:
        return None
    return b"".join(chunks)
