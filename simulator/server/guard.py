"""The test-control guard, once: the loopback rule and the bearer token.

Without --admin-token the control surface answers loopback peers only (unless
--admin-allow-remote); with a token every caller must present it.  `Guard` is
ASGI middleware for any sub-application (the admin API), for HTTP and WebSocket
scopes alike; the dashboard's data routes call `refusal` themselves with
`query_token=True`, because a browser cannot set headers on a WebSocket and
the page forwards its own `?token=T`."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse

from .runtime import Runtime

REMOTE_REFUSED = "admin API is loopback-only: start with --admin-token T (or --admin-allow-remote) to expose it"
TOKEN_REQUIRED = "admin token required"


def is_loopback(host: str | None) -> bool:
    """A loopback peer.  A peer that is not an IP address (none, "testclient") did not
    come over TCP: an in-process ASGI call, local by construction."""
    if not host:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def remote_refused(rt: Runtime, host: str | None) -> bool:
    """Without --admin-token the admin API answers loopback peers only, unless the
    server was started with --admin-allow-remote (the container image does)."""
    s = rt.settings
    return not s.admin_token and not s.admin_remote and not is_loopback(host)


def refusal(rt: Runtime, scope: Any, query_token: bool = False) -> tuple[int, str] | None:
    """(status, detail) if this caller may not use the control surface, else None.
    `query_token`: a `?token=T` in the URL counts as the bearer token too."""
    client = scope.get("client")
    if remote_refused(rt, client[0] if client else None):
        return 403, REMOTE_REFUSED
    token = rt.settings.admin_token
    if token:
        auth = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                auth = value
                break
        if hmac.compare_digest(auth, f"Bearer {token}".encode()):
            return None
        if query_token:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            if given and hmac.compare_digest(given[-1].encode(), token.encode()):
                return None
        return 401, TOKEN_REQUIRED
    return None


class Guard:
    """ASGI middleware: refuse (403/401, `{"detail": ...}`; WS close 1008) before
    anything else of the wrapped application runs."""

    def __init__(self, app: Any, rt: Runtime) -> None:
        self.app = app
        self.rt = rt

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            refused = refusal(self.rt, scope)
            if refused is not None:
                if scope["type"] == "http":
                    await JSONResponse({"detail": refused[1]}, status_code=refused[0])(scope, receive, send)
                else:
                    await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)


__all__ = ["REMOTE_REFUSED", "TOKEN_REQUIRED", "Guard", "is_loopback", "refusal", "remote_refused"]
