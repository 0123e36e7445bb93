"""The FIX gateway module (listed in `simulator.gateways.GATEWAY_MODULES`).

One acceptor on `--fix-port` (plus a TLS listener when `--tls-port` is set)
serves two profiles, chosen per Logon:

- Kraken (signed): 553/554/5025 verified against an account's FIX key; the
  CompIDs the admin API hands out (`CLIENT-<account>` -> `KRAKEN-TRD`) work
  as issued, and a SenderCompID that belongs to an account always needs them.
- plain (stock initiators): no credentials, reset on logon, for SenderCompIDs
  no account owns; they trade on the demo account, or on the account
  `/admin/fix` maps them to.

See README.md ("Application layer") for the message-level behaviour.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import ssl
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from simulator.gateways.fix import tags
from simulator.gateways.fix.acceptor import FixAcceptor, start_fix_acceptor
from simulator.gateways.fix.application import FixConfig, KrakenFixApp
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.profile import FixProfile, ServiceSpec, kraken_profile
from simulator.gateways.fix.registry import next_epoch
from simulator.server.runtime import Runtime
from simulator.server.site import Site

log = logging.getLogger("kraken_sim.fix")
HOOK = "fix"


def plain_services() -> tuple[ServiceSpec, ...]:
    """Kraken's four CompIDs without signatures."""
    return tuple(ServiceSpec(s.venue_comp_id, s.market, s.kind) for s in kraken_profile().services)


class FixGateway:
    """The acceptor, the application and the profile choice of one runtime."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.app = KrakenFixApp(rt, FixConfig())
        self.kraken = kraken_profile()
        self.plain = FixProfile(name="plain", services=plain_services(), reset_on_logon=True)
        self.acceptor: FixAcceptor | None = None
        self.tls_port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0

    def select_profile(self, logon: Msg) -> FixProfile:
        """Kraken's signed profile unless this is a credential-less stock initiator."""
        if not self.app.config.plain_enabled:
            return self.kraken
        if tags.USERNAME in logon or tags.PASSWORD in logon:
            return self.kraken
        if self.app.comp_id_owner(logon.get(tags.SENDER_COMP_ID) or "") is not None:
            return self.kraken
        return self.plain

    async def start(self) -> None:
        s = self.rt.settings
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.app.bind_loop()
        state_dir = Path(s.state_dir) / "fix" if s.state_dir else None
        if state_dir is not None:
            self.app.exec_epoch = next_epoch(state_dir)
        self.acceptor = await start_fix_acceptor(
            s.host, s.fix_port, self.app, self.rt.venue.clock,
            state_dir=state_dir, profile=self.kraken, profile_selector=self.select_profile,
        )
        self.rt.urls["fix_port"] = self.acceptor.port
        if s.tls_port is not None:
            context = tls_context(s)
            if context is not None:
                self.tls_port = await self._listen_tls(context)
                self.rt.urls["fix_tls_port"] = self.tls_port

    async def _listen_tls(self, context: ssl.SSLContext) -> int:
        """`settings.fix_tls_port` if configured, else next to the FIX port (free port when 0)."""
        assert self.acceptor is not None
        s = self.rt.settings
        wanted = getattr(s, "fix_tls_port", None)
        port = int(wanted) if wanted is not None else (s.fix_port + 1 if s.fix_port else 0)
        try:
            return await self.acceptor.add_listener(port, context)
        except OSError as exc:
            if wanted is not None:
                raise
            log.warning("FIX TLS: port %s unavailable (%s); using a free port", port, exc)
            return await self.acceptor.add_listener(0, context)

    async def stop(self) -> None:
        if self.acceptor is not None:
            await self.acceptor.stop()
            self.acceptor = None

    def on_reset(self) -> None:
        """Admin reset: forget orders and subscriptions, drop every session, wipe the stores."""
        loop = self.loop
        if loop is None or loop.is_closed():
            self.app.on_reset()
            return
        if threading.get_ident() == self.loop_thread:
            self.app.on_reset()
            loop.create_task(self._reset_sessions())
            return
        future = asyncio.run_coroutine_threadsafe(self._reset(), loop)
        try:
            future.result(timeout=10)
        except Exception:  # noqa: BLE001 - a reset must go on even if sessions linger
            log.exception("FIX: session reset failed")

    async def _reset(self) -> None:
        self.app.on_reset()
        await self._reset_sessions()

    async def _reset_sessions(self) -> None:
        if self.acceptor is not None:
            await self.acceptor.reset_sessions()

    def view(self) -> dict[str, Any]:
        """What /admin/fix shows: configuration and live sessions."""
        sessions = []
        for conn in list(self.app.conns.values()):
            sessions.append({
                "connection_id": conn.conn_id,
                "instance_id": conn.instance_id,
                "sender_comp_id": conn.sender_comp_id,
                "target_comp_id": conn.key.sender_comp_id,
                "account_id": conn.account_id,
                "profile": "plain" if conn.plain else "kraken",
                "cancel_on_disconnect": conn.handle.cancel_on_disconnect,
            })
        return {"config": self.app.config.to_json(), "port": self.rt.urls.get("fix_port"),
                "tls_port": self.tls_port, "sessions": sessions}


def tls_context(settings: Any) -> ssl.SSLContext | None:
    """Server TLS context from the HTTP listener's certificate (None without the tls module)."""
    try:
        tls = importlib.import_module("simulator.server.tls")
    except ModuleNotFoundError:
        log.warning("FIX TLS: simulator.server.tls not available; no TLS FIX listener")
        return None
    cert, key = tls.ensure_certificate(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def _share_certificate(rt: Runtime) -> None:
    """Generate the self-signed pair once, before the HTTP listener does, so that
    HTTPS and FIX TLS present the same certificate (the ready line's ca_cert)."""
    s = rt.settings
    if s.tls_port is None or s.cert or s.key:
        return
    try:
        tls = importlib.import_module("simulator.server.tls")
    except ModuleNotFoundError:
        return
    s.cert, s.key = tls.ensure_certificate(s)


class FixConfigIn(BaseModel):
    """POST /admin/fix: fields left out keep their value."""

    plain_enabled: bool | None = Field(None, description="accept credential-less logons (plain profile)")
    plain_comp_ids: dict[str, str] | None = Field(
        None, description="SenderCompID -> account id for plain logons (others trade on the demo account)")
    derivatives_cost: int | None = Field(None, ge=0, description="Derivatives FIX budget cost per order message")


def gateway(rt: Runtime) -> FixGateway:
    gw: FixGateway = rt.hooks[HOOK]
    return gw


# ----------------------------------------------------------- module contract
def prepare(rt: Runtime) -> None:
    """Every build/reset: create the gateway once and hook it to the bus and resets."""
    if HOOK in rt.hooks:
        return
    gw = FixGateway(rt)
    rt.hooks[HOOK] = gw
    rt.bus.subscribe(gw.app.on_entry)
    rt.hooks.setdefault("on_reset", []).append(gw.on_reset)
    _share_certificate(rt)


def install(site: Site, rt: Runtime) -> None:
    """Admin routes: /admin/fix (config and live sessions), on the guarded admin sub-application."""
    r = APIRouter(prefix="/fix", tags=["admin"])

    @r.get("", summary="FIX gateway: configuration and live sessions")
    def get_fix() -> dict[str, Any]:
        return gateway(rt).view()

    @r.post("", summary="FIX gateway: plain-profile logons and their accounts")
    def set_fix(body: FixConfigIn) -> dict[str, Any]:
        cfg = gateway(rt).app.config
        if body.plain_comp_ids is not None:
            for comp_id, account in body.plain_comp_ids.items():
                if rt.venue.accounts.get(account) is None:
                    raise HTTPException(404, f"unknown account {account} for {comp_id}")
            cfg.plain_comp_ids = dict(body.plain_comp_ids)
        if body.plain_enabled is not None:
            cfg.plain_enabled = body.plain_enabled
        if body.derivatives_cost is not None:
            cfg.derivatives_cost = body.derivatives_cost
        return gateway(rt).view()

    site.admin.include_router(r)


async def start(rt: Runtime) -> None:
    await gateway(rt).start()


async def stop(rt: Runtime) -> None:
    await gateway(rt).stop()
