"""The dashboard in a real headless browser (Debian's chromium + chromedriver, via selenium).

Skips cleanly when there is no chromium, chromedriver or selenium.  CI:
    apt-get update && apt-get install -y chromium chromium-driver
    pip install selenium
Screenshots go to $KRAKEN_SIM_ARTIFACTS (if set) or the test's tmp dir; the
paths are printed (pytest -s shows them).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.pytest_plugin import KrakenVenue

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1400,1200",
]
WAIT_S = 20.0


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromedriver() -> str | None:
    path = shutil.which("chromedriver")
    if path:
        return path
    p = Path("/usr/lib/chromium/chromedriver")
    return str(p) if p.is_file() else None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install -y chromium chromium-driver)")
    driver_path = _chromedriver()
    if driver_path is None:
        pytest.skip("no chromedriver (apt-get install -y chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    opts.add_argument(f"--user-data-dir={profile}")
    # an explicit driver path: selenium never tries to download one
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(WAIT_S)
    drv.set_script_timeout(WAIT_S)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    base = os.environ.get("KRAKEN_SIM_ARTIFACTS")
    out = Path(base) / "dashboard" if base else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def wait_for(what: str, fn: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as exc:  # noqa: BLE001 - the page may be mid-render
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def js(drv: Any, script: str) -> Any:
    return drv.execute_script(script)


def rest_add_order(kv: KrakenVenue, **fields: str) -> dict[str, Any]:
    """A signed Kraken private REST call: API-Sign = b64(HMAC-SHA512(b64dec(secret), path + SHA256(nonce + body)))."""
    key, secret = kv.demo_account["api_key"], kv.demo_account["api_secret"]
    path = "/0/private/AddOrder"
    nonce = str(time.time_ns())
    body = urllib.parse.urlencode({"nonce": nonce, **fields})
    digest = hashlib.sha256((nonce + body).encode()).digest()
    sign = base64.b64encode(hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512).digest()).decode()
    req = urllib.request.Request(kv.spot_rest + path, data=body.encode(), method="POST")
    req.add_header("API-Key", key)
    req.add_header("API-Sign", sign)
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=10) as r:
        out: dict[str, Any] = json.loads(r.read())
    return out


def has_spot_rest(kv: KrakenVenue) -> bool:
    """Is the Spot REST gateway in this build? (probe: GET /0/public/Time)"""
    try:
        with urllib.request.urlopen(kv.spot_rest + "/0/public/Time", timeout=10) as r:
            return "result" in json.loads(r.read())
    except (urllib.error.URLError, ValueError):
        return False


def has_spot_ws(kv: KrakenVenue) -> bool:
    return any(getattr(r, "path", "") == "/v2" for r in kv.asgi_app().routes)


def test_dashboard_shows_an_order_in_the_book_and_journal(kraken_venue: KrakenVenue, browser: Any, artifacts: Path) -> None:
    kv = kraken_venue
    kv.admin.freeze()
    browser.get(kv.spot_rest + "/?symbol=BTC/USD")
    wait_for("the live feed", lambda: js(browser, "return document.body.dataset.live") == "1")
    wait_for("the seeded book", lambda: js(browser, "return document.querySelectorAll('#bids tr').length") >= 5)
    assert js(browser, "return document.getElementById('symbol').value") == "BTC/USD"
    shot = artifacts / "01-loaded.png"
    browser.save_screenshot(str(shot))
    print(f"\nscreenshot: {shot}")

    price, qty = "91404.5", "0.4321"  # below the seeded bids: a new level of its own
    if has_spot_rest(kv):
        res = rest_add_order(kv, ordertype="limit", type="buy", volume=qty, pair="XBTUSD", price=price)
        assert res["error"] == [], res
        order_id = res["result"]["txid"][0]
        via = "rest"
    else:  # the REST gateway is not in this build: place it from the seed market maker instead
        out = kv.admin.seed_book("BTC/USD", levels=0, bids=[[price, qty]])
        order_id = out["order_ids"][0]
        via = "admin"

    row = wait_for(
        "the order's level in the book",
        lambda: js(browser, f"const r = document.querySelector('#bids tr[data-price=\"{price}\"]'); return r && r.innerText"),
    )
    assert "0.43210000" in row
    journal = wait_for(
        "the order in the journal",
        lambda: js(browser, f"return [...document.querySelectorAll('#journal tbody tr')].map(r => r.innerText).find(t => t.includes('{order_id}'))"),
    )
    assert f"buy {qty}" in journal and (via == "admin" or "rest" in journal)
    assert wait_for("the order under its account", lambda: js(browser, f"return !!document.querySelector('#orders [data-order=\"{order_id}\"]')"))
    if via == "rest":
        # the trading counter of the demo account moved (frozen clock: no decay)
        counter = wait_for("demo's rate counter", lambda: js(browser, "const r = [...document.querySelectorAll('#ratelimits tbody tr')].find(r => r.cells[0].innerText === 'demo'); return r && r.cells[2].innerText"))
        assert counter.startswith("1.0 /") or counter.startswith("1 /"), counter
    assert js(browser, "return document.querySelectorAll('#depth path').length") == 2
    shot = artifacts / "02-order.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # bring the market to life: bots trade, the trades table and the depth chart follow
    kv.admin.request("POST", "/market", {"symbol": "BTC/USD", "makers": 2, "takers": 2, "taker": {"rate": 1}})
    kv.admin.advance(5000)
    wait_for("bot trades", lambda: js(browser, "return document.querySelectorAll('#trades tbody tr').length") >= 3)
    assert wait_for("the bots badge", lambda: "makers" in js(browser, "return document.getElementById('market-info').textContent"))
    with contextlib.ExitStack() as stack:
        ws_client = pytest.importorskip("websockets.sync.client")
        if has_spot_ws(kv):  # a trading session shows under its protocol
            stack.enter_context(ws_client.connect(kv.spot_ws, open_timeout=10))
            wait_for("the WS session", lambda: js(browser, "return !!document.querySelector('#connections [data-protocol=\"ws\"]')"))
        shot = artifacts / "03-living-market.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    # switching instrument re-subscribes the feed
    js(browser, "const s = document.getElementById('symbol'); s.value = 'ETH/USD'; s.dispatchEvent(new Event('change'))")
    wait_for("the ETH/USD view", lambda: js(browser, "return document.querySelector('#quote').innerText.length > 0 && document.getElementById('symbol').value") == "ETH/USD")
    wait_for("ETH/USD's book", lambda: js(browser, "return [...document.querySelectorAll('#bids tr')].some(r => parseFloat(r.dataset.price) < 10000)"))
