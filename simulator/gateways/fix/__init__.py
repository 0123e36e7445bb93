"""Kraken Unified FIX 4.4 gateway: transport and session layer (acceptor side).

The application layer (orders to the engine) plugs in through `FixApplication`.
"""

from simulator.gateways.fix.acceptor import FixAcceptor, start_fix_acceptor
from simulator.gateways.fix.application import (
    AuthResult,
    BusinessRejectApplication,
    FixApplication,
    LogonInfo,
    SessionHandle,
)
from simulator.gateways.fix.auth import kraken_logon_password
from simulator.gateways.fix.codec import Limits, Msg
from simulator.gateways.fix.profile import FixProfile, ServiceSpec, kraken_profile, plain_profile
from simulator.gateways.fix.session import FixSession
from simulator.gateways.fix.store import SessionKey

__all__ = [
    "AuthResult",
    "BusinessRejectApplication",
    "FixAcceptor",
    "FixApplication",
    "FixProfile",
    "FixSession",
    "Limits",
    "LogonInfo",
    "Msg",
    "ServiceSpec",
    "SessionHandle",
    "SessionKey",
    "kraken_logon_password",
    "kraken_profile",
    "plain_profile",
    "start_fix_acceptor",
]
