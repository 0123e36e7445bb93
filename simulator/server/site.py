"""The HTTP site: one mounted sub-application per protocol, each behind the
same middleware in the same order, each answering in its own dialect.

Order, outermost first: guard (control surfaces only) -> latency -> injected
faults -> body cap -> the sub-application's router.  Routes are declared;
404 and 405 come from the router and are worded by the protocol's `Dialect`.
Gateways add to a `Site` in `install(site, rt)`; `build_app` mounts it all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from .guard import Guard
from .runtime import Runtime

Reply = Callable[[], Response]


@dataclass(frozen=True)
class Dialect:
    """How one protocol words what the stack and the router refuse."""

    too_large: Reply
    max_body: Callable[[], int]  # read per request (tests may replace the gateway's limit)
    not_found: Reply | None = None  # None: the framework's own 404 / 405 (the admin API's dialect)
    wrong_verb: Reply | None = None
    fault: Callable[[str], Response] | None = None  # injected EService:Unavailable / EService:Busy
    latency: str | None = None  # rt.latency_s(key); None: no injected latency


class Latency:
    """Injected latency (the network in front of the venue) before anything is read."""

    def __init__(self, app: Any, rt: Runtime, key: str) -> None:
        self.app, self.rt, self.key = app, rt, key

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            delay = self.rt.latency_s(self.key)
            if delay > 0:
                await asyncio.sleep(delay)
        await self.app(scope, receive, send)


class Faults:
    """Injected service errors, answered in the protocol's dialect."""

    def __init__(self, app: Any, rt: Runtime, reply: Callable[[str], Response]) -> None:
        self.app, self.rt, self.reply = app, rt, reply

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            fault = self.rt.fault_reply()
            if fault:
                await self.reply(fault)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyCap:
    """The request body, read up to the cap before any route sees it.

    A declared Content-Length over the cap is refused before a byte is read; a
    chunked body is counted as it arrives.  Under the cap the body is replayed
    to the route; a client that leaves mid-body gets no reply (nobody reads it)."""

    def __init__(self, app: Any, limit: Callable[[], int], too_large: Reply) -> None:
        self.app, self.limit, self.too_large = app, limit, too_large

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.strip().isdigit() or int(value) > limit):
                await self.too_large()(scope, receive, send)
                return
        messages: list[Any] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left mid-body
            messages.append(message)
            size += len(message.get("body", b""))
            if size > limit:
                await self.too_large()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def stack(rt: Runtime, dialect: Dialect, guard: bool = False) -> list[Middleware]:
    """The middleware of one sub-application, in the one order every protocol uses."""
    out = [Middleware(Guard, rt=rt)] if guard else []
    if dialect.latency is not None:
        out.append(Middleware(Latency, rt=rt, key=dialect.latency))
    if dialect.fault is not None:
        out.append(Middleware(Faults, rt=rt, reply=dialect.fault))
    out.append(Middleware(BodyCap, limit=dialect.max_body, too_large=dialect.too_large))
    return out


def _handlers(dialect: Dialect) -> dict[Any, Any]:
    """The router's 404 and 405 in the dialect (no route of a protocol app raises them)."""
    out: dict[Any, Any] = {}
    for code, reply in ((404, dialect.not_found), (405, dialect.wrong_verb)):
        if reply is not None:
            out[code] = _answer(reply)
    return out


def _answer(reply: Reply) -> Callable[[Request, Exception], Any]:
    async def handler(_request: Request, _exc: Exception) -> Response:
        return reply()

    return handler


def protocol_app(rt: Runtime, routes: Sequence[BaseRoute], dialect: Dialect, guard: bool = False) -> Starlette:
    """One protocol's sub-application: its declared routes behind the common stack."""
    app = Starlette(routes=list(routes), middleware=stack(rt, dialect, guard), exception_handlers=_handlers(dialect))
    app.router.redirect_slashes = False  # a Kraken path answers or is unknown; never a redirect
    return app


def documented_app(rt: Runtime, dialect: Dialect, guard: bool = False) -> FastAPI:
    """A sub-application with typed (FastAPI) routes whose operations join the root
    OpenAPI document under its mount (the admin API, the dashboard's state)."""
    return FastAPI(docs_url=None, redoc_url=None, openapi_url=None, middleware=stack(rt, dialect, guard))


@dataclass
class Site:
    """What the gateways install into; `build_app` turns it into the root app."""

    rt: Runtime
    admin: FastAPI  # mounted at /admin, guarded; routers included here are relative to /admin
    routes: list[BaseRoute] = field(default_factory=list)
    documented: list[tuple[str, FastAPI]] = field(default_factory=list)

    def mount(self, path: str, app: Any, documented: bool = False) -> None:
        self.routes.append(Mount(path, app=app))
        if documented:
            assert isinstance(app, FastAPI)
            self.documented.append((path, app))

    def route(self, path: str, endpoint: Callable[..., Any], methods: Sequence[str] = ("GET",)) -> None:
        self.routes.append(Route(path, endpoint, methods=list(methods), include_in_schema=False))

    def websocket(self, path: str, endpoint: Callable[..., Any]) -> None:
        self.routes.append(WebSocketRoute(path, endpoint))


__all__ = ["BodyCap", "Dialect", "Faults", "Latency", "Site", "documented_app", "protocol_app", "stack"]
