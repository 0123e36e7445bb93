"""The FIX gateway module (listed in `simulator.gateways.GATEWAY_MODULES`).

One acceptor on `--fix-port` (plus a TLS listener when `--tls-port` is set)
serves two profiles, chosen per Logon:

- Kraken (signed): 553/554/5025 verified against an account's FIX key; the
  CompIDs the admin API hands out (`CLIENT-<account>` -> `KRAKEN-TRD`) work
  as issued, and a SenderCompID that belongs to an account always needs them,
  on every session (market data too: no one else may squat it).
- plain (stock initiators): no credentials, reset on logon, only for the
  SenderCompIDs configured (scenario `[fix] plain_comp_ids`, `/admin/fix`),
  on the account each is mapped to; any other CompID is closed silently.

See README.md ("Application layer") for the message-level behaviour.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.kraken_application import FixConfig, KrakenFixApplication
from simulator.gateways.fix.profile import FixProfile, ServiceSpec, kraken_profile
from simulator.gateways.fix.registry import next_epoch
from simulator.server.runtime import Runtime
from simulator.server.site import Site

log = logging.getLogger("kraken_sim.fix")


def plain_services() -> tuple[ServiceSpec, ...]:
    """Kraken's four CompIDs without signatures."""
    return tuple(ServiceSpec(s.venue_comp_id, s.market, s.kind) for s in kraken_profile().services)


class FixGateway:
    """The acceptor, the application and the profile choice of one runtime."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.application = KrakenFixApplication(rt, FixConfig())
        self.kraken = kraken_profile(sign_market_data=True)
        self.plain = FixProfile(name="plain", services=plain_services(), reset_on_logon=True,
                                client_comp_ids=frozenset())
        self._profiles_for: tuple[float | None, frozenset[str]] | None = None
        self.acceptor: FixAcceptor | None = None
        self.tls_port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0

    def _sync_profiles(self) -> None:
        """Rebuild both profiles when the configuration they carry changed (new logons only)."""
        cfg = self.application.config
        state = (cfg.sending_time_accuracy_s or None, frozenset(cfg.plain_comp_ids))
        if state == self._profiles_for:
            return
        self._profiles_for = state
        self.kraken = dataclasses.replace(self.kraken, max_latency_s=state[0])
        self.plain = dataclasses.replace(self.plain, max_latency_s=state[0], client_comp_ids=state[1])

    def select_profile(self, logon: Msg) -> FixProfile:
        """Kraken's signed profile unless this is a credential-less stock initiator; the
        plain profile closes CompIDs it was not configured for without a reply."""
        self._sync_profiles()
        if not self.application.config.plain_enabled:
            return self.kraken
        if tags.USERNAME in logon or tags.PASSWORD in logon:
            return self.kraken
        if self.application.comp_id_owner(logon.get(tags.SENDER_COMP_ID) or "") is not None:
            return self.kraken
        return self.plain

    def apply_scenario(self, scenario: Any) -> None:
        """The scenario's `[fix]` table (checked when the file was loaded)."""
        data = getattr(scenario, "fix", None) or {}
        self.application.config = config_from(data, self.application.config)

    async def start(self) -> None:
        s = self.rt.settings
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.application.bind_loop()
        state_dir = Path(s.state_dir) / "fix" if s.state_dir else None
        if state_dir is not None:
            self.application.exec_epoch = next_epoch(state_dir)
        self.acceptor = await start_fix_acceptor(
            s.host, s.fix_port, self.application, self.rt.venue.clock,
            state_dir=state_dir, profile=self.kraken, profile_selector=self.select_profile,
            inflight=self.rt.services.inflight,
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
            self.application.on_reset()
            return
        if threading.get_ident() == self.loop_thread:
            self.application.on_reset()
            loop.create_task(self._reset_sessions())
            return
        future = asyncio.run_coroutine_threadsafe(self._reset(), loop)
        try:
            future.result(timeout=10)
        except Exception:  # noqa: BLE001 - a reset must go on even if sessions linger
            log.exception("FIX: session reset failed")

    async def _reset(self) -> None:
        self.application.on_reset()
        await self._reset_sessions()

    async def _reset_sessions(self) -> None:
        if self.acceptor is not None:
            await self.acceptor.reset_sessions()

    def view(self) -> dict[str, Any]:
        """What /admin/fix shows: configuration and live sessions."""
        sessions = []
        for conn in list(self.application.conns.values()):
            sessions.append({
                "connection_id": conn.conn_id,
                "instance_id": conn.instance_id,
                "sender_comp_id": conn.sender_comp_id,
                "target_comp_id": conn.key.sender_comp_id,
                "account_id": conn.account_id,
                "profile": "plain" if conn.plain else "kraken",
                "cancel_on_disconnect": conn.handle.cancel_on_disconnect,
            })
        return {"config": self.application.config.to_json(), "port": self.rt.urls.get("fix_port"),
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
        None, description='SenderCompID -> account id (or "demo") for plain logons; no other CompID is accepted')
    sending_time_accuracy_s: float | None = Field(
        None, ge=0, le=86_400, description="SendingTime window against the venue clock; null or 0: off")
    md_max_subscriptions: int | None = Field(None, ge=1, le=10_000, description="market data symbols per session")
    derivatives_cost: int | None = Field(None, ge=0, le=1_000_000,
                                         description="Derivatives FIX budget cost per order message")


_CONFIG_KEYS = frozenset(FixConfigIn.model_fields)


def config_from(data: dict[str, Any], base: FixConfig) -> FixConfig:
    """A new FixConfig: `base` with the given fields replaced (scenario or admin body)."""
    cfg = dataclasses.replace(base, plain_comp_ids=dict(base.plain_comp_ids))
    if "plain_enabled" in data:
        cfg.plain_enabled = bool(data["plain_enabled"])
    if "plain_comp_ids" in data:
        cfg.plain_comp_ids = {str(k): str(v) for k, v in (data["plain_comp_ids"] or {}).items()}
    if "sending_time_accuracy_s" in data:
        value = data["sending_time_accuracy_s"]
        cfg.sending_time_accuracy_s = float(value) if value else None
    if data.get("md_max_subscriptions") is not None:
        cfg.md_max_subscriptions = int(data["md_max_subscriptions"])
    if data.get("derivatives_cost") is not None:
        cfg.derivatives_cost = int(data["derivatives_cost"])
    return cfg


def gateway(rt: Runtime) -> FixGateway:
    gw = rt.services.fix
    assert gw is not None, "fix.gateway.prepare(rt) has not run"
    return gw


# ----------------------------------------------------------- module contract
def prepare(rt: Runtime) -> None:
    """Every build/reset: create the gateway once and hook it to the bus and resets;
    (re)apply the scenario's `[fix]` table (a reset put the configuration back)."""
    gw = rt.services.fix
    if gw is None:
        gw = rt.services.fix = FixGateway(rt)
        rt.bus.subscribe(gw.application.on_entry)
        rt.services.on_reset.append(gw.on_reset)
        _share_certificate(rt)
    gw.apply_scenario(rt.scenario)


def install(site: Site, rt: Runtime) -> None:
    """Admin routes: /admin/fix (config and live sessions), on the guarded admin sub-application."""
    r = APIRouter(prefix="/fix", tags=["admin"])

    @r.get("", summary="FIX gateway: configuration and live sessions")
    def get_fix() -> dict[str, Any]:
        return gateway(rt).view()

    @r.post("", summary="FIX gateway: accepted plain CompIDs, SendingTime window, limits")
    def set_fix(body: FixConfigIn) -> dict[str, Any]:
        gw = gateway(rt)
        data = body.model_dump(include=body.model_fields_set & _CONFIG_KEYS)
        if data.get("plain_enabled", True) is None:
            del data["plain_enabled"]
        for comp_id, account in (data.get("plain_comp_ids") or {}).items():
            if not comp_id or len(comp_id) > 64:
                raise HTTPException(400, f"plain_comp_ids: bad SenderCompID {comp_id[:64]!r}")
            if gw.application.resolve_account(account) is None:
                raise HTTPException(404, f"unknown account {account} for {comp_id}")
            if gw.application.comp_id_owner(comp_id) is not None:
                raise HTTPException(409, f"{comp_id} is issued to an account (signed logons only)")
        gw.application.config = config_from(data, gw.application.config)
        return gw.view()

    site.admin.include_router(r)


async def start(rt: Runtime) -> None:
    await gateway(rt).start()


async def stop(rt: Runtime) -> None:
    await gateway(rt).stop()
