"""What the benchmarks share: the simulator as its own process, funded
accounts through the admin API, a signed keep-alive Spot REST connection
and latency percentiles, so every benchmark measures the same way."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

from tests.kit.clients import spot_body, spot_headers


def start_sim(*flags: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`kraken-sim serve` on ephemeral ports; its first stdout line names them."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--fix-port", "0", "--log-level", "error", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("simulator did not start")
    return proc, json.loads(line)


def admin(base: str, path: str, body: dict[str, Any], timeout: float = 30) -> Any:
    """One admin API POST; the JSON reply."""
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def funded_account(admin_url: str, balances: dict[str, str]) -> tuple[str, str]:
    """A pro-tier account with `balances` and no rate limits (the client, not the
    limiter, is measured): its Spot API key and secret."""
    acct = admin(admin_url, "/accounts", {"balances": balances, "tier": "pro"})
    admin(admin_url, f"/accounts/{acct['account_id']}/tier", {"rate_limits": False})
    return acct["api_key"], acct["api_secret"]


class SpotConn:
    """Signed Spot REST calls over one keep-alive HTTP/1.1 connection (no client
    library in the measured path), nonces from this connection's own counter."""

    def __init__(self, url: str, key: str, secret: str, timeout: float = 60) -> None:
        host, port = url.split("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.creds = {"api_key": key, "api_secret": secret}
        self.nonce = time.time_ns()

    def call(self, method: str, params: dict[str, Any], as_json: bool = False) -> Any:
        """The call's `result`; RuntimeError on a Kraken error."""
        self.nonce += 1
        nonce = str(self.nonce)
        body, ctype = spot_body(nonce, params, as_json=as_json)
        path = f"/0/private/{method}"
        self.conn.request("POST", path, body, spot_headers(self.creds, path, nonce, body, ctype))
        data = json.loads(self.conn.getresponse().read())
        if data["error"]:
            raise RuntimeError(f"{method}: {data['error']}")
        return data["result"]


def percentile(ordered: list[float], p: float) -> float:
    """The `p`th percentile of sorted samples (nearest rank below; 0 for none)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def latency_ms(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds of latencies in seconds, and how many."""
    ordered = sorted(samples)
    return {"p50_ms": percentile(ordered, 50) * 1e3, "p99_ms": percentile(ordered, 99) * 1e3, "n": len(ordered)}
