"""Signing: Kraken's published challenge vector, the REST Authent algorithm,
and the venue refusing bad signatures, nonces and keys the way Kraken does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from simulator.pytest_plugin import KrakenVenue
from tests.kit.clients import futures_authent as authent
from tests.kit.clients import futures_sign_challenge as sign_challenge

SECRET = "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm"


def test_kraken_published_challenge_vector() -> None:
    signed = sign_challenge("c100b894-1729-464d-ace1-52dbce11db42", SECRET)
    assert signed == "4JEpF3ix66GA2B+ooK128Ift4XQVtc137N9yeg4Kqsn9PI0Kpzbysl9M1IeCEdjg0zl00wkVqcsnG4bmnlMb3A=="


def test_rest_authent_vectors() -> None:
    post = "orderType=lmt&symbol=PF_XBTUSD&side=buy&size=0.01&limitPrice=50000"
    assert (
        authent(post, "1415957147987", "/derivatives/api/v3/sendorder", SECRET)
        == "e6IadmCDGvSviInctt5e2xyQ4wTH+1RbNzGlpvsJUQac+0mmqbYLE3xHLqakq1pZh6pyOcTMQVgMCusnAHG12g=="
    )
    assert (
        authent(post, "", "/api/v3/sendorder", SECRET)
        == "xs9p4z6HYXkzbHL8sgRieOadCUBkTRe+XnEs0FZNaFEzUWS3mU9t7IOtI4sx/m4LbxvrwokNubIVpAWH4vs+Mg=="
    )


def _call(
    v: KrakenVenue, path: str, headers: dict[str, str], query: str = "", body: str = "", method: str = "GET"
) -> Any:
    url = v.futures_rest + path + (("?" + query) if query else "")
    req = urllib.request.Request(url, data=body.encode() if body else None, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_venue_checks_signature_nonce_and_key_kind(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    acct = v.admin.create_account({}, futures_balances={"USD": "1000"})
    key, secret = acct["futures_api_key"], acct["futures_api_secret"]
    path = "/derivatives/api/v3/accounts"

    def hdr(nonce: str, sig: str | None = None, k: str = key) -> dict[str, str]:
        h = {"APIKey": k, "Authent": sig or authent("", nonce, path, secret)}
        if nonce:
            h["Nonce"] = nonce
        return h

    status, body = _call(v, path, hdr("100"))
    assert status == 200 and body["result"] == "success" and "flex" in body["accounts"]
    # no nonce at all (ccxt) is fine
    assert _call(v, path, hdr(""))[1]["result"] == "success"
    # reused nonce
    dup = _call(v, path, hdr("100"))[1]
    assert (
        set(dup) == {"result", "serverTime", "error"} and dup["result"] == "error" and dup["error"] == "nonceDuplicate"
    )
    # wrong signature, unknown key, spot key used on futures: authenticationError with HTTP 200
    for h in (
        hdr("101", sig="AAAA"),
        hdr("102", k="nokey"),
        {"APIKey": acct["api_key"], "Authent": authent("", "", path, acct["api_secret"])},
    ):
        status, body = _call(v, path, h)
        assert status == 200 and body["result"] == "error" and body["error"] == "authenticationError"
    # the history API answers 401 instead
    try:
        _call(v, "/api/history/v2/executions", {"APIKey": key, "Authent": "AAAA"})
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
        assert json.loads(exc.read()) == {
            "reason": "You are not authorized to access this endpoint.",
            "status": "unauthorized",
        }
    # POST parameters in the query (ccxt) or in the body (python-kraken-sdk), URL-decoded signatures too
    q = "orderType=lmt&symbol=PF_XBTUSD&side=buy&size=0.001&limitPrice=80000&cliOrdId=a%20b"
    send = "/derivatives/api/v3/sendorder"
    for query, body_text, signed in (
        (q, "", q),
        ("", q.replace("a%20b", "e"), q.replace("a%20b", "e")),
        (q.replace("a%20b", "c%20d"), "", q.replace("a%20b", "c d")),
    ):
        h = {
            "APIKey": key,
            "Authent": authent(signed, "", send, secret),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        status, res = _call(v, send, h, query, body_text, "POST")
        assert res["result"] == "success", res
        assert res["sendStatus"]["status"] == "placed"
