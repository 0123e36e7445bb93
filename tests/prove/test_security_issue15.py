"""Issue 15 (bounded work, bounded memory, no way in): one regression test per
case, each showing that a refused request changes nothing in the venue."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from simulator.pytest_plugin import KrakenVenue
from simulator.server.runtime import Settings
from simulator.server.server import ThreadedVenue

from .kit import assert_alive, changes_since, snapshot


def _asgi(app: Any, method: str, path: str, client: tuple[str, int], headers: dict[str, str] | None = None,
          json_body: Any = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            return await http.request(method, path, headers=headers or {}, json=json_body)

    return asyncio.run(go())


def _asgi_ws(app: Any, path: str, client: tuple[str, int], headers: dict[str, str] | None = None) -> list[Any]:
    """Open a WebSocket on the ASGI app without a socket: what the app sends first."""
    path, _, query = path.partition("?")
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": client, "server": ("sim", 80), "subprotocols": [], "state": {},
    }
    sent: list[Any] = []

    async def go() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "websocket.connect"})

        async def receive() -> dict[str, Any]:
            return await inbox.get()

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)
            if msg["type"] in ("websocket.accept", "websocket.close"):
                await inbox.put({"type": "websocket.disconnect", "code": 1000})

        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(go())
    return sent


def _threaded(**kw: Any) -> ThreadedVenue:
    tv = ThreadedVenue(Settings(port=0, fix_port=0, **kw))
    tv.start()
    return tv


# ============================================================ 14: the dashboard
def test_dashboard_data_is_loopback_only_like_admin(venue: KrakenVenue) -> None:
    app = venue.asgi_app()
    for peer in ("10.1.2.3", "2001:db8::1"):
        r = _asgi(app, "GET", "/dashboard/state", (peer, 1))
        assert r.status_code == 403 and "loopback" in r.json()["detail"], r.text[:200]
        assert _asgi_ws(app, "/dashboard/ws", (peer, 1))[0]["type"] == "websocket.close"
    ok = _asgi(app, "GET", "/dashboard/state", ("127.0.0.1", 1))
    assert ok.status_code == 200 and "journal" in ok.json(), ok.text[:200]
    assert _asgi(app, "GET", "/", ("10.1.2.3", 1)).status_code == 200  # the page itself holds no data


def test_dashboard_data_needs_the_admin_token() -> None:
    tv = _threaded(admin_token="s3cret")
    try:
        assert tv.server is not None
        app = tv.server.app
        for peer in ("10.1.2.3", "127.0.0.1"):
            assert _asgi(app, "GET", "/dashboard/state", (peer, 1)).status_code == 401
            bad = {"Authorization": "Bearer wrong"}
            assert _asgi(app, "GET", "/dashboard/state", (peer, 1), bad).status_code == 401
            assert _asgi(app, "GET", "/dashboard/state?token=wrong", (peer, 1)).status_code == 401
            assert _asgi_ws(app, "/dashboard/ws", (peer, 1))[0]["type"] == "websocket.close"
            assert _asgi_ws(app, "/dashboard/ws?token=wrong", (peer, 1))[0]["type"] == "websocket.close"
            good = {"Authorization": "Bearer s3cret"}
            assert _asgi(app, "GET", "/dashboard/state", (peer, 1), good).status_code == 200
            assert _asgi(app, "GET", "/dashboard/state?token=s3cret", (peer, 1)).status_code == 200
            opened = _asgi_ws(app, "/dashboard/ws?token=s3cret", (peer, 1))
            assert opened[0]["type"] == "websocket.accept", opened[:1]
        # /admin itself takes the header only, as before
        assert _asgi(app, "GET", "/admin/clock?token=s3cret", ("127.0.0.1", 1)).status_code == 401
    finally:
        tv.stop()


def test_dashboard_remote_opt_in() -> None:
    tv = _threaded(admin_remote=True)
    try:
        assert tv.server is not None
        assert _asgi(tv.server.app, "GET", "/dashboard/state", ("10.1.2.3", 1)).status_code == 200
    finally:
        tv.stop()


def test_guard_refusals_change_nothing(venue: KrakenVenue) -> None:
    before = snapshot(venue)
    app = venue.asgi_app()
    r = _asgi(app, "POST", "/admin/accounts", ("10.9.9.9", 1), json_body={"balances": {"USD": "1"}})
    assert r.status_code == 403
    assert changes_since(venue, before) == []
    assert_alive(venue)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
