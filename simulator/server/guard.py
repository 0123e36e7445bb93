"""The one gate in front of everything that is not Kraken's: /admin and the
dashboard's data (/dashboard/state, /dashboard/ws).

Without --admin-token only loopback peers are answered (unless
--admin-allow-remote); with it every caller shows `Authorization: Bearer T`.
A browser cannot set headers on a WebSocket, so the dashboard may also pass the
token as `?token=T` (the page forwards its own query).  One function decides,
so every route it guards refuses the same callers the same way.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs

REMOTE_REFUSED = "admin API is loopback-only: start with --admin-token T (or --admin-allow-remote) to expose it"
TOKEN_REQUIRED = "admin token required"

# paths behind the gate besides /admin: the dashboard's data, not its static page
GUARDED_PATHS = ("/dashboard/state", "/dashboard/ws")


class Refusal(NamedTuple):
    status: int  # HTTP status; a WebSocket closes with 1008 instead
    detail: str


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


def remote_refused(settings: Any, host: str | None) -> bool:
    """Without --admin-token the admin API answers loopback peers only, unless the
    server was started with --admin-allow-remote (the container image does)."""
    return not settings.admin_token and not settings.admin_remote and not is_loopback(host)


def refusal(settings: Any, host: str | None, headers: Mapping[str, str], query_token: str | None = None) -> Refusal | None:
    """Why this caller may not use an admin surface, or None if it may."""
    if remote_refused(settings, host):
        return Refusal(403, REMOTE_REFUSED)
    token = settings.admin_token
    if token:
        want = f"Bearer {token}".encode()
        auth = headers.get("authorization", "").encode()
        if not hmac.compare_digest(auth, want) and not (
            query_token is not None and hmac.compare_digest(query_token.encode(), token.encode())
        ):
            return Refusal(401, TOKEN_REQUIRED)
    return None


def is_guarded(path: str) -> bool:
    return path.startswith("/admin") or path in GUARDED_PATHS


def scope_refusal(settings: Any, scope: Mapping[str, Any]) -> Refusal | None:
    """`refusal` for an ASGI scope (an HTTP request or a WebSocket handshake)."""
    client = scope.get("client")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    query_token = None
    if scope.get("path") in GUARDED_PATHS:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        query_token = values[-1] if values else None
    return refusal(settings, client[0] if client else None, headers, query_token)
