"""The application interface: what the session layer asks of the engine side.

The session layer owns everything FIX-session (framing, seqnums, heartbeats,
resends, Logon signature checks); the application owns accounts and business
messages. Every callback may be a plain function or a coroutine; callbacks of
one session are awaited in order, so an application sees its messages in
MsgSeqNum order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Protocol

from simulator.gateways.fix import tags
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.profile import ServiceSpec
from simulator.gateways.fix.store import SessionKey


@dataclass(frozen=True)
class LogonInfo:
    """A Logon the session layer has validated and is about to accept.

    For signed services `api_key` is the 553 value whose signature and nonce
    already verified; otherwise it is 553 as sent (or None).
    """

    instance_id: str
    key: SessionKey
    client_comp_id: str
    service: ServiceSpec
    api_key: str | None
    peer: str | None
    message: Msg


@dataclass(frozen=True)
class AuthResult:
    """Accept with an account id, or reject with the Logout text the client sees."""

    account_id: str | None = None
    reject_text: str | None = None

    @property
    def ok(self) -> bool:
        return self.reject_text is None and self.account_id is not None

    @classmethod
    def accept(cls, account_id: str) -> AuthResult:
        return cls(account_id=account_id)

    @classmethod
    def reject(cls, text: str = "Logon failed: invalid credentials") -> AuthResult:
        return cls(reject_text=text)


class SessionHandle(Protocol):
    """What an application may use of a live (or just closed) FIX session."""

    @property
    def instance_id(self) -> str:
        """Unique per TCP connection: a reconnection is a new instance (cancel scope)."""

    @property
    def key(self) -> SessionKey:
        """Stable FIX identity (BeginString, venue CompID, client CompID)."""

    @property
    def client_comp_id(self) -> str: ...

    @property
    def service(self) -> ServiceSpec: ...

    @property
    def account_id(self) -> str | None: ...

    @property
    def cancel_on_disconnect(self) -> bool:
        """8674=0 (default) on the Logon: cancel this session's orders when it ends."""

    @property
    def logon_message(self) -> Msg | None:
        """The accepted Logon (5030, 5051, 109 ... are read from here)."""

    @property
    def is_logged_on(self) -> bool: ...

    def send(self, msg: Msg) -> int:
        """Queue an application message; returns its MsgSeqNum.

        After a disconnect the message is still stored under the session's
        seqnums and reaches the client through a ResendRequest on its next
        logon without reset.
        """

    def send_reject(
        self, ref: Msg, reason: int, ref_tag: int | None = None, text: str | None = None
    ) -> int:
        """Session-level Reject (35=3) of `ref` (field-level problems)."""

    def send_business_reject(
        self, ref: Msg, reason: int, text: str, ref_id: str | None = None
    ) -> int:
        """BusinessMessageReject (35=j); `ref_id` defaults to ClOrdID (11) of `ref`."""

    def logout(self, text: str | None = None) -> None:
        """Start a Logout handshake (bounded by the profile's logout timeout)."""

    def drop(self, reason: str = "dropped") -> None:
        """Close the TCP connection without Logout (an abnormal disconnect)."""


class FixApplication(Protocol):
    """Implemented by the engine gateway; `BusinessRejectApplication` is the stand-in."""

    def api_secret(self, api_key: str) -> str | None | Awaitable[str | None]:
        """Base64 API secret for a FIX API key, or None if unknown (signed services)."""

    def authenticate(self, logon: LogonInfo) -> AuthResult | Awaitable[AuthResult]:
        """Map a validated Logon to an account, or refuse it."""

    def on_logon(self, session: SessionHandle) -> None | Awaitable[None]:
        """The Logon reply has been sent."""

    def on_message(self, session: SessionHandle, msg: Msg) -> None | Awaitable[None]:
        """An application message (35 not admin), in sequence; reply with session.send()."""

    def on_disconnect(
        self, session: SessionHandle, cancel_on_disconnect: bool
    ) -> None | Awaitable[None]:
        """A logged-on session ended; cancel its orders if `cancel_on_disconnect`."""


class BusinessRejectApplication:
    """Default application: accepts logons, rejects every application message.

    Answers 35=j with 380=3 (Unsupported Message Type) so an acceptor is
    usable before the engine is wired. `secrets` (API key -> base64 secret)
    lets signed Kraken logons succeed; `accounts` maps a client CompID to an
    account id (default: the CompID itself).
    """

    def __init__(
        self,
        secrets: Mapping[str, str] | None = None,
        accounts: Mapping[str, str] | None = None,
    ) -> None:
        self.secrets = dict(secrets or {})
        self.accounts = dict(accounts or {})

    def api_secret(self, api_key: str) -> str | None:
        return self.secrets.get(api_key)

    def authenticate(self, logon: LogonInfo) -> AuthResult:
        if self.accounts and logon.client_comp_id not in self.accounts:
            return AuthResult.reject()
        return AuthResult.accept(self.accounts.get(logon.client_comp_id, logon.client_comp_id))

    def on_logon(self, session: SessionHandle) -> None:
        return None

    def on_message(self, session: SessionHandle, msg: Msg) -> None:
        session.send_business_reject(
            msg, tags.BusinessRejectReason.UNSUPPORTED_MESSAGE_TYPE,
            f"Unsupported Message Type: {msg.msg_type}",
        )

    def on_disconnect(self, session: SessionHandle, cancel_on_disconnect: bool) -> None:
        return None
