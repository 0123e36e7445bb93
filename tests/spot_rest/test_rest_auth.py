"""Authentication exactly as Kraken: API-Sign over the raw body, nonces,
nonce window, otp, permissions — through real clients where they exist."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import ccxt
import pytest
from kraken.spot import SpotClient, User

from tests.kit.clients import rest_sign as sign

from .helpers import Raw, ccxt_client, kx, sdk, sdk_error


def test_official_signature_vector() -> None:
    secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    body = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    expected = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    assert sign("/0/private/AddOrder", "1616492376594", body, secret) == expected


def test_three_clients_sign_their_own_way(kraken_venue: Any, funded: dict[str, Any]) -> None:
    # krakenex: form, nonce last; ccxt: form, nonce first; SDK: form with charset, 1e-8 s nonces
    assert kx(kraken_venue, funded).query_private("Balance")["result"]["XXBT"] == "2.0000000000"
    time.sleep(0.002)  # krakenex and ccxt both use millisecond nonces
    assert ccxt_client(kraken_venue, funded).fetch_balance()["BTC"]["total"] == 2.0
    assert sdk(User, kraken_venue, funded).get_account_balance()["ZUSD"] == "100000.0000"
    client = sdk(SpotClient, kraken_venue, funded)  # the SDK's generic client, JSON body
    err = sdk_error(lambda: client.request("POST", "/0/private/BalanceEx", params={"x": 1}, do_json=True))
    assert "EGeneral:Invalid arguments:x" in err  # unknown parameter names are refused
    assert client.request("POST", "/0/private/BalanceEx", do_json=True)["XXBT"]["balance"] == "2.0000000000"


def test_json_body_with_numeric_and_string_nonce(raw: Raw) -> None:
    assert "ZUSD" in raw.ok("Balance", as_json=True)  # nonce is a JSON number
    n = raw.nonce()
    body = json.dumps({"nonce": str(n)}).encode()
    assert "ZUSD" in raw.ok("Balance", body=body, nonce=n, content_type="application/json; charset=utf-8")


def test_header_names_are_case_insensitive(raw: Raw) -> None:
    n = raw.nonce()
    body = f"nonce={n}".encode()
    headers = {"api-key": raw.key, "api-sign": sign("/0/private/Balance", str(n), body, raw.secret)}
    r = raw.http.post(raw.base + "/0/private/Balance", content=body, headers=headers)
    assert r.status_code == 200 and r.json()["error"] == []


def test_invalid_key(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    assert raw.error("Balance", headers={"API-Key": "nope"}) == "EAPI:Invalid key"
    r = raw.http.post(raw.base + "/0/private/Balance", content=b"nonce=1")
    assert r.status_code == 200 and r.json() == {"error": ["EAPI:Invalid key"]}
    # a futures key is not a spot REST key
    other = Raw(kraken_venue, {"api_key": funded["futures_api_key"], "api_secret": funded["futures_api_secret"]})
    assert other.error("Balance") == "EAPI:Invalid key"
    with pytest.raises(ccxt.AuthenticationError):
        ccxt_client(kraken_venue, {"api_key": "x" * 56, "api_secret": funded["api_secret"]}).fetch_balance()


def test_invalid_signature(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    assert raw.error("Balance", headers={"API-Sign": "!!not base64!!"}) == "EAPI:Invalid signature"
    assert raw.error("Balance", headers={"API-Sign": base64.b64encode(b"x" * 64).decode()}) == "EAPI:Invalid signature"
    n = raw.nonce()
    signed = f"nonce={n}".encode()
    headers = {"API-Key": raw.key, "API-Sign": sign("/0/private/Balance", str(n), signed, raw.secret)}
    tampered = raw.http.post(raw.base + "/0/private/Balance", content=signed + b"&asset=XBT", headers=headers).json()
    assert tampered == {"error": ["EAPI:Invalid signature"]}
    # signed for another path
    headers["API-Sign"] = sign("/0/private/BalanceEx", str(n), signed, raw.secret)
    assert raw.http.post(raw.base + "/0/private/Balance", content=signed, headers=headers).json()["error"] == [
        "EAPI:Invalid signature"
    ]
    wrong = dict(funded, api_secret=base64.b64encode(b"k" * 64).decode())
    assert kx(kraken_venue, wrong).query_private("Balance")["error"] == ["EAPI:Invalid signature"]


def test_nonce_rules(raw: Raw) -> None:
    n = raw.nonce()
    raw.ok("Balance", nonce=n)
    assert raw.error("Balance", nonce=n) == "EAPI:Invalid nonce"  # replay
    assert raw.error("Balance", nonce=n - 1) == "EAPI:Invalid nonce"  # lower
    # a forged request (bad signature) with a high nonce must not burn it
    forged = raw.post("Balance", nonce=n + 1000, headers={"API-Sign": base64.b64encode(b"f" * 64).decode()})
    assert forged[1]["error"] == ["EAPI:Invalid signature"]
    raw.ok("Balance", nonce=n + 1)
    # missing and malformed nonces
    path = "/0/private/Balance"
    headers = {"API-Key": raw.key, "API-Sign": sign(path, "", b"", raw.secret)}
    assert raw.http.post(raw.base + path, content=b"", headers=headers).json()["error"] == ["EAPI:Invalid nonce"]
    for bad in ("abc", "-5", "1.5", str(2**64)):
        body = f"nonce={bad}".encode()
        headers = {"API-Key": raw.key, "API-Sign": sign(path, bad, body, raw.secret)}
        assert raw.http.post(raw.base + path, content=body, headers=headers).json()["error"] == ["EAPI:Invalid nonce"]


def test_one_key_two_nonce_styles_with_window(kraken_venue: Any) -> None:
    creds = kraken_venue.admin.create_account({"USD": "10"}, nonce_window=10**18)
    user = sdk(User, kraken_venue, creds)  # nonces ~1.7e17
    ex = ccxt_client(kraken_venue, creds)  # nonces ~1.7e12 (ms)
    for _ in range(2):
        assert user.get_account_balance()["ZUSD"] == "10.0000"
        assert ex.fetch_balance()["USD"]["total"] == 10.0


def test_one_key_two_nonce_styles_without_window(kraken_venue: Any) -> None:
    creds = kraken_venue.admin.create_account({"USD": "10"})
    user = sdk(User, kraken_venue, creds)
    ex = ccxt_client(kraken_venue, creds)
    ex.fetch_balance()
    user.get_account_balance()  # a larger nonce: fine
    with pytest.raises(ccxt.InvalidNonce):
        ex.fetch_balance()
    assert kx(kraken_venue, creds).query_private("Balance")["error"] == ["EAPI:Invalid nonce"]


def test_nonce_window_accepts_each_lower_nonce_once(kraken_venue: Any) -> None:
    creds = kraken_venue.admin.create_account({"USD": "10"}, nonce_window=5000)
    raw = Raw(kraken_venue, creds)
    raw.ok("Balance", nonce=100_000)
    raw.ok("Balance", nonce=99_000)
    assert raw.error("Balance", nonce=99_000) == "EAPI:Invalid nonce"
    assert raw.error("Balance", nonce=90_000) == "EAPI:Invalid nonce"  # outside the window


def test_permissions(kraken_venue: Any) -> None:
    creds = kraken_venue.admin.create_account({"USD": "1000"}, permissions=["query_funds"])
    raw = Raw(kraken_venue, creds)
    assert raw.ok("Balance")["ZUSD"] == "1000.0000"
    for method, params in (
        ("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1000", "volume": "0.01"}),
        ("OpenOrders", {}),
        ("ClosedOrders", {}),
        ("Ledgers", {}),
        ("GetWebSocketsToken", {}),
        ("CancelAll", {}),
        ("Withdraw", {"asset": "USD", "key": "usd-bank", "amount": "10"}),
    ):
        assert raw.error(method, params) == "EGeneral:Permission denied", method
    fresh = kraken_venue.admin.create_account({"USD": "1000"}, permissions=["query_funds"])  # ccxt: ms nonces
    with pytest.raises(ccxt.PermissionDenied):
        ccxt_client(kraken_venue, fresh).create_order("BTC/USD", "limit", "buy", 0.01, 1000)
    # cancel-only keys may cancel; create-only keys may cancel too (Kraken: either permission)
    cancel_only = kraken_venue.admin.create_account({"USD": "1"}, permissions=["cancel_and_close_orders"])
    assert Raw(kraken_venue, cancel_only).ok("CancelAll") == {"count": 0}


def test_otp(kraken_venue: Any, funded: dict[str, Any]) -> None:
    key = kraken_venue.runtime.venue.accounts.key(funded["api_key"])
    kraken_venue.call(setattr, key, "otp", "s3cret")
    api = kx(kraken_venue, funded)
    assert api.query_private("Balance")["error"] == ["EAPI:Invalid otp"]
    time.sleep(0.002)  # krakenex nonces are milliseconds: two calls in one ms would share one
    assert api.query_private("Balance", {"otp": "wrong"})["error"] == ["EAPI:Invalid otp"]
    time.sleep(0.002)
    assert api.query_private("Balance", {"otp": "s3cret"})["error"] == []
