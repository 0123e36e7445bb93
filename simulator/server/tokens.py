"""WebSocket auth tokens (REST GetWebSocketsToken) with Kraken's 15-minute
rule: a token must be used to connect within 15 minutes of its creation; once
a connection subscribed with it, it stays valid for that connection.  A token
carries the permissions of the API key that minted it."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from simulator.core.clock import NS_PER_S, VenueClock
from simulator.core.ids import IdGenerator

TOKEN_TTL_S = 900


@dataclass
class WsToken:
    token: str
    account_id: str
    created_ns: int
    used: bool = False
    permissions: frozenset[str] | None = None  # the minting key's; None: every permission


class WsTokenStore:
    def __init__(self, clock: VenueClock, ids: IdGenerator) -> None:
        self.clock = clock
        self.ids = ids
        self.tokens: dict[str, WsToken] = {}

    def mint(self, account_id: str, permissions: frozenset[str] | None = None) -> WsToken:
        text = base64.b64encode(self.ids.token(30)).decode()
        tok = WsToken(text, account_id, self.clock.now_ns(), permissions=permissions)
        self.tokens[text] = tok
        return tok

    def account_for(self, token: str) -> str | None:
        """The token's account if it may be used now (marks it used)."""
        tok = self.tokens.get(token)
        if tok is None:
            return None
        if not tok.used and self.clock.now_ns() - tok.created_ns > TOKEN_TTL_S * NS_PER_S:
            return None
        tok.used = True
        return tok.account_id

    def permissions_for(self, token: str) -> frozenset[str] | None:
        """The permissions a token carries (None: all, or an unknown token)."""
        tok = self.tokens.get(token)
        return tok.permissions if tok is not None else None
