"""Logon acceptance rules: who is logging on, are the fields valid, are they who they say.

Every refusal raises `LogonRefused`; its `text` (if any) goes back in a Logout,
otherwise the socket is simply closed (fix.md §10: unknown CompIDs, first
message not a Logon, ... get no bytes at all).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from typing import TypeVar

from simulator.gateways.fix import tags
from simulator.gateways.fix.application import AuthResult, FixApplication, LogonInfo
from simulator.gateways.fix.auth import NonceTracker, verify_password
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.profile import FixProfile, ServiceSpec
from simulator.gateways.fix.registry import seconds_into_day
from simulator.gateways.fix.store import SessionKey
from simulator.gateways.fix.validate import (
    check_dictionary,
    check_fields,
    check_header,
    check_logon_fields,
    parse_seq_num,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
INVALID_CREDENTIALS = "Logon failed: invalid credentials"


async def resolve(value: T | Awaitable[T]) -> T:
    """Application callbacks may be plain functions or coroutines."""
    if inspect.isawaitable(value):
        return await value
    return value


class LogonRefused(Exception):
    """Logon not accepted; `text` is sent in a Logout, or the socket just closes."""

    def __init__(self, reason: str, text: str | None = None) -> None:
        super().__init__(reason)
        self.text = text


def identify(msg: Msg, profile: FixProfile) -> tuple[SessionKey, ServiceSpec, int]:
    """Session identity of a first message; anything unexpected closes silently."""
    if msg.msg_type != "A":
        raise LogonRefused(f"first message is MsgType {msg.msg_type}, not Logon")
    if msg.get(tags.BEGIN_STRING) != profile.begin_string:
        raise LogonRefused(f"unsupported BeginString {msg.get(tags.BEGIN_STRING)}")
    service = profile.service_for(msg.get(tags.TARGET_COMP_ID) or "")
    if service is None:
        raise LogonRefused(f"unknown TargetCompID {msg.get(tags.TARGET_COMP_ID)}")
    client = msg.get(tags.SENDER_COMP_ID) or ""
    if not client or (profile.client_comp_ids is not None and client not in profile.client_comp_ids):
        raise LogonRefused(f"unknown SenderCompID {client!r}")
    seq = parse_seq_num(msg.get(tags.MSG_SEQ_NUM))
    if seq is None:
        raise LogonRefused("Logon without valid MsgSeqNum")
    return SessionKey(profile.begin_string, service.venue_comp_id, client), service, seq


def validate(msg: Msg, profile: FixProfile, now_ns: int) -> int:
    """Field checks of an identified Logon; returns HeartBtInt."""
    problem = (check_fields(msg, profile.limits) or check_header(msg, now_ns, profile.max_latency_s)
               or check_dictionary(msg) or check_logon_fields(msg))
    if problem is not None:
        raise LogonRefused(problem.text, f"Logon failed: {problem.text}")
    heartbeat = int(msg.get(tags.HEART_BT_INT) or 0)
    if heartbeat > profile.max_heartbeat_s:
        raise LogonRefused("HeartBtInt too large", f"Logon failed: HeartBtInt above {profile.max_heartbeat_s}")
    if seconds_into_day(now_ns, profile.daily_reset_utc) < profile.rollover_blackout_s:
        raise LogonRefused("logon during daily rollover", "Logon failed: session rollover")
    return heartbeat


async def check_signature(
    msg: Msg, service: ServiceSpec, key: SessionKey, application: FixApplication,
    nonces: NonceTracker, now_ms: int,
) -> str | None:
    """Kraken 553/554/5025 verification (fix.md §3.2); returns the verified API key."""
    api_key = msg.get(tags.USERNAME)
    if not service.require_signature:
        return api_key
    password, nonce = msg.get(tags.PASSWORD), msg.get(tags.NONCE)
    if not api_key or not password or not nonce:
        raise LogonRefused("Username/Password/Nonce missing", INVALID_CREDENTIALS)
    why = nonces.check(api_key, nonce, now_ms)
    if why is not None:
        raise LogonRefused(why, INVALID_CREDENTIALS)
    try:
        secret = await resolve(application.api_secret(api_key))
    except Exception:
        log.exception("FIX logon: api_secret lookup failed")
        raise LogonRefused("api_secret lookup failed", "Logon failed: internal error") from None
    if secret is None:
        raise LogonRefused(f"unknown API key {api_key[:8]}...", INVALID_CREDENTIALS)
    if not verify_password(password, secret, msg.get(tags.MSG_SEQ_NUM) or "",
                           key.target_comp_id, key.sender_comp_id, api_key, nonce):
        raise LogonRefused("bad signature", INVALID_CREDENTIALS)
    nonces.commit(api_key, nonce)
    return api_key


async def authenticate(application: FixApplication, info: LogonInfo) -> AuthResult:
    """Ask the application for the account; a refusal or a crash refuses the Logon."""
    try:
        result = await resolve(application.authenticate(info))
    except Exception:
        log.exception("FIX logon: authenticate failed")
        raise LogonRefused("authenticate raised", "Logon failed: internal error") from None
    if not result.ok:
        raise LogonRefused("application refused", result.reject_text or INVALID_CREDENTIALS)
    return result
