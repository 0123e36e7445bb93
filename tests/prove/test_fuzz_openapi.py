"""Schemathesis over the Spot REST and Derivatives REST v3 OpenAPI documents
(`/openapi/spot-rest.json`, `/openapi/futures-rest.json`, generated from the
gateways' method tables): every operation, schema-conforming and
schema-violating inputs.

Requests are built here from each case (query, body, path) and signed with
the test kit's own signers and a fresh nonce, so the handlers run; about one
call in five is deliberately unsigned or mis-signed.  Per call: no 5xx,
Kraken's envelope, never an internal error, a refused call changes nothing
(state digest; refused commands may be journaled without events), a
mis-signed private call is refused; afterwards the venue answers.  The
documents list every method of the tables and are valid OpenAPI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis.errors import Unsatisfiable

from simulator.gateways.futures_rest import openapi as futures_openapi
from simulator.gateways.futures_rest.endpoints import ROUTES
from simulator.gateways.spot_rest import openapi as spot_openapi
from simulator.gateways.spot_rest.registry import PRIVATE, PUBLIC
from simulator.pytest_plugin import KrakenVenue

from .kit import (
    INTERNAL_ERRORS,
    assert_alive,
    changes_since,
    form_encode,
    form_pairs,
    fund,
    futures_alive,
    futures_headers,
    fuzz_settings,
    next_nonce,
    snapshot,
    spot_headers,
)

schemathesis = pytest.importorskip("schemathesis")  # a test dependency (see pyproject's `test` extra)
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
SPOT_DOC, FUTURES_DOC = spot_openapi.PATH, futures_openapi.PATH
# every fifth call is not signed correctly, in turn: no signature, a wrong one,
# another key's secret, or whatever header values the generator came up with
AUTH_BAD = ["no_sig", "bad_sig", "other_secret", "generated"]
PER_OP = 5  # examples per operation and mode: 80 operations x 2 modes stay well under a minute
SPOT_AUTH_ERRORS = ("EAPI:Invalid key", "EAPI:Invalid signature", "EAPI:Invalid nonce", "EGeneral:Invalid arguments")
FUTURES_INTERNAL = ("Server Error",)


@dataclass
class World:
    """The funded account the calls use, a second key to mis-sign with, and the tally."""

    venue: KrakenVenue
    http: httpx.Client
    creds: dict[str, Any]
    other: dict[str, Any]
    outcomes: dict[str, int]

    def refresh(self) -> None:
        """Back to a clean venue after a call changed state (withdrawals and
        transfers must not drain the account across examples); new accounts."""
        self.venue.admin.reset()
        self.venue.admin.freeze()
        self.creds, self.other = _accounts(self.venue)


def _accounts(venue: KrakenVenue) -> tuple[dict[str, Any], dict[str, Any]]:
    balances = {"USD": "10000000", "XBT": "100", "ETH": "1000", "EUR": "100000"}
    return (fund(venue, balances, futures_balances={"USD": "100000"}),
            fund(venue, {"USD": "1000"}, futures_balances={"USD": "1000"}))


@pytest.fixture(scope="module")
def world(venue: KrakenVenue) -> Iterator[World]:
    venue.admin.freeze()  # no timer fires between the before/after snapshots
    creds, other = _accounts(venue)
    http = httpx.Client(timeout=15)
    try:
        yield World(venue, http, creds, other, {})
    finally:
        http.close()
        venue.admin.reset()
        venue.admin.set_clock(mode="real")


def _document(venue: KrakenVenue, path: str) -> dict[str, Any]:
    r = httpx.get(venue.spot_rest + path, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text[:300]
    doc: dict[str, Any] = r.json()
    return doc


def _schema(venue: KrakenVenue, path: str) -> Any:
    return schemathesis.openapi.from_dict(_document(venue, path))


# ------------------------------------------------------------- the documents
def _operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item}


def test_documents_list_every_method(venue: KrakenVenue) -> None:
    """Both documents describe exactly the gateways' tables (no method missing or
    invented), private Spot calls are signed form POSTs, and the main /openapi.json
    (the admin API) does not carry them."""
    spot = _document(venue, SPOT_DOC)
    want = {("GET", f"/0/public/{m}") for m in PUBLIC} | {("POST", f"/0/private/{m}") for m in PRIVATE}
    assert _operations(spot) == want
    for name, ep in PRIVATE.items():
        op = spot["paths"][f"/0/private/{name}"]["post"]
        assert op["security"] == [{"API-Key": [], "API-Sign": []}], name
        body = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        assert set(body["properties"]) == set(ep.params) and "nonce" in body["required"], name
        assert op["x-kraken-permissions"] == [sorted(g) for g in ep.perms], name
    for name, ep in PUBLIC.items():
        op = spot["paths"][f"/0/public/{name}"]["get"]
        assert {p["name"] for p in op["parameters"]} == set(ep.params) and "security" not in op, name
    add = spot["paths"]["/0/private/AddOrder"]["post"]["requestBody"]["content"]
    props = add["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert props["type"]["enum"] == ["buy", "sell"] and "limit" in props["ordertype"]["enum"]
    assert "XBTUSD" in props["pair"]["enum"] and props["volume"]["type"] == "string"
    for name, names in spot_openapi.REQUIRED.items():  # the required names are the methods' own
        ep = PUBLIC.get(name) or PRIVATE[name]
        assert set(names) <= ep.params, name

    fut = _document(venue, FUTURES_DOC)
    assert _operations(fut) == {(m, futures_openapi.PREFIX + p) for m, p in ROUTES}
    assert set(futures_openapi.PARAMS) <= set(ROUTES)  # no parameters for a route that does not exist
    for (m, p), (_, private, trading) in ROUTES.items():
        op = fut["paths"][futures_openapi.PREFIX + p][m.lower()]
        assert ("security" in op) == private, (m, p)
        if private:
            assert op["x-kraken-access"] == ("full" if trading else "read"), (m, p)
    send = fut["paths"][futures_openapi.PREFIX + "sendorder"]["post"]["requestBody"]["content"]
    props = send["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert props["side"]["enum"] == ["buy", "sell"] and "lmt" in props["orderType"]["enum"]
    assert "PF_XBTUSD" in props["symbol"]["enum"]

    main = _document(venue, "/openapi.json")
    assert not [p for p in main["paths"] if p.startswith(("/0/", "/derivatives", "/openapi"))]


@pytest.mark.parametrize("path", [SPOT_DOC, FUTURES_DOC], ids=["spot", "futures"])
def test_documents_are_valid_openapi(venue: KrakenVenue, path: str) -> None:
    schema = _schema(venue, path)
    schema.validate()  # the OpenAPI 3.0 meta-schema
    ops = [r.ok() for r in schema.get_all_operations()]  # every operation resolves
    assert len(ops) == len(_operations(_document(venue, path)))


def test_a_broken_document_is_caught() -> None:
    """The validity check above can fail: a document with a bad parameter is refused."""
    doc = spot_openapi.spot_document()
    doc["paths"]["/0/public/Depth"]["get"]["parameters"][0]["in"] = "nowhere"
    with pytest.raises(Exception):  # noqa: B017, PT011 - jsonschema_rs's ValidationError
        schemathesis.openapi.from_dict(doc).validate()


# ------------------------------------------------------------------ the calls
def _latin1(headers: dict[str, Any]) -> dict[str, str]:
    """Generated header values that HTTP can carry at all."""
    out = {}
    for k, v in (headers or {}).items():
        try:
            str(k).encode("latin-1"), str(v).encode("latin-1")
        except UnicodeEncodeError:
            continue
        if k and "\n" not in str(v) and "\r" not in str(v) and "\x00" not in str(v):
            out[str(k)] = str(v)
    return out


def _text(x: Any) -> str:
    if isinstance(x, (dict, list)):
        return json.dumps(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    return "" if x is None else str(x)


def _body_text(body: Any) -> str:
    """A body that is no object: a string as it is, None or no body as nothing, else JSON."""
    if isinstance(body, str):
        return body
    if body is None or not isinstance(body, (list, int, float, bool)):
        return ""  # includes schemathesis's NOT_SET (the operation has no body)
    return json.dumps(body)


def _flat(data: Any) -> str:
    """Query or futures form text: repeated keys for arrays, JSON for anything nested."""
    if not isinstance(data, dict):
        return ""
    return form_encode((str(k), _text(x)) for k, v in data.items() for x in (v if isinstance(v, list) else [v]))


def _spot_call(w: World, case: Any, auth: str) -> tuple[httpx.Response, bool]:
    """One Spot call from the case; returns the reply and whether it was signed correctly."""
    base = w.venue.spot_rest
    path = case.path
    if path.startswith("/0/public/"):
        q = _flat(case.query)
        return w.http.get(base + path + ("?" + q if q else "")), True
    nonce = str(next_nonce())
    body_in = case.body
    if isinstance(body_in, dict):
        body_in = {**body_in, "nonce": int(nonce)}
    if case.media_type == "application/json":
        body = json.dumps(body_in, default=str).encode("utf-8", "surrogatepass")
    elif isinstance(body_in, dict):
        body = form_encode(form_pairs(body_in)).encode()
    else:  # a generated body that is no object (negative mode): sent as text
        body = _body_text(body_in).encode("utf-8", "surrogatepass")
    ctype = case.media_type or "application/x-www-form-urlencoded"
    if auth == "generated":
        headers = {**_latin1(case.headers), "Content-Type": ctype}
    elif auth == "no_sig":
        headers = {"API-Key": w.creds["api_key"], "Content-Type": ctype}
    else:
        secret = w.other["api_secret"] if auth == "other_secret" else None
        headers = spot_headers(w.creds, path, nonce, body, ctype, secret)
        if auth == "bad_sig":
            sig = headers["API-Sign"]
            headers["API-Sign"] = sig[:-4] + ("AAA=" if sig[-4:] != "AAA=" else "BBB=")
    return w.http.post(base + path, content=body, headers=headers), auth == "valid"


def _futures_call(w: World, case: Any, auth: str, private: bool) -> tuple[httpx.Response, bool]:
    base = w.venue.futures_rest
    route = case.path[len(futures_openapi.PREFIX):]
    if "{symbol}" in route:
        route = route.replace("{symbol}", quote(str((case.path_parameters or {}).get("symbol", "")), safe=""))
    path = futures_openapi.PREFIX + route
    query = _flat(case.query)
    body = _flat(case.body) if isinstance(case.body, dict) else _body_text(case.body)
    headers: dict[str, str] = {"Content-Type": "application/x-www-form-urlencoded"}
    if private:
        nonce = str(next_nonce())
        if auth == "generated":
            headers.update(_latin1(case.headers))
        elif auth == "no_sig":
            headers["APIKey"] = w.creds["futures_api_key"]
        else:
            secret = w.other["futures_api_secret"] if auth == "other_secret" else None
            headers = futures_headers(w.creds, path, query, body, nonce, secret)
            if auth == "bad_sig":
                sig = headers["Authent"]
                headers["Authent"] = sig[:-4] + ("AAA=" if sig[-4:] != "AAA=" else "BBB=")
    url = base + path + ("?" + query if query else "")
    r = w.http.request(case.method, url, content=body.encode("utf-8", "surrogatepass"), headers=headers)
    return r, auth == "valid" or not private


def _check_spot(r: httpx.Response, signed: bool, private: bool, where: str) -> bool:
    """Kraken's Spot envelope; returns whether the call was refused."""
    assert r.status_code < 500, "5xx: " + where
    assert r.status_code != 404, "a documented method is unknown: " + where
    data = r.json()
    assert isinstance(data, dict) and isinstance(data.get("error"), list), where
    errors = data["error"]
    assert all(isinstance(e, str) for e in errors), where
    assert not any(e in INTERNAL_ERRORS for e in errors), where
    if errors:
        assert "result" not in data, where
    else:
        assert "result" in data, where
    if private and not signed:
        assert errors and errors[0].startswith(SPOT_AUTH_ERRORS), "mis-signed call accepted: " + where
    return bool(errors)


def _check_futures(r: httpx.Response, signed: bool, where: str) -> bool:
    """Kraken's derivatives envelope; returns whether the call was refused."""
    assert r.status_code < 500, "5xx: " + where
    data = r.json()
    assert isinstance(data, dict) and data.get("result") in ("success", "error"), where
    assert isinstance(data.get("serverTime"), str), where
    if data["result"] == "error":
        assert set(data) == {"result", "serverTime", "error"}, where
        assert data["error"] not in FUTURES_INTERNAL, where
    if not signed:  # refused; Kraken names a missing argument before a bad key (sendorder with no body)
        refusals = ("authenticationError", "requiredArgumentMissing")
        assert data["result"] == "error" and data["error"] in refusals, "mis-signed call accepted: " + where
    return bool(data["result"] == "error")


def _exercise(w: World, case: Any, auth: str, spot: bool, private: bool) -> bool:
    """One call and every per-call property; returns whether it was refused."""
    before = snapshot(w.venue)
    if spot:
        r, signed = _spot_call(w, case, auth)
    else:
        r, signed = _futures_call(w, case, auth, private)
    where = (f"{case.method} {case.path} auth={auth} query={str(case.query)[:200]} "
             f"body={str(case.body)[:300]} -> {r.status_code} {r.text[:300]}")
    if spot:
        refused = _check_spot(r, signed, private, where)
    else:
        refused = _check_futures(r, signed, where)
    key = f"{'refused' if refused else 'ok'}:{'signed' if signed else 'unsigned'}"
    w.outcomes[key] = w.outcomes.get(key, 0) + 1
    changed = changes_since(w.venue, before)
    if refused:
        assert changed == [], f"refused call changed {changed}: " + where
    elif changed:
        w.refresh()  # keep the venue small, the account funded
    return refused


def _load(w: World, doc: str) -> tuple[dict[str, Any], list[Any], set[tuple[str, str]]]:
    raw = _document(w.venue, doc)
    ops = [r.ok() for r in schemathesis.openapi.from_dict(raw).get_all_operations()]
    private = {(m.upper(), p) for p, item in raw["paths"].items() for m, op in item.items() if "security" in op}
    return raw, ops, private


def _fuzz(w: World, doc: str, mode: Any) -> None:
    """Every operation of one document in one generation mode."""
    _, ops, private = _load(w, doc)
    skipped: list[str] = []
    calls = {"n": 0}
    for op in ops:

        @fuzz_settings(PER_OP)
        @given(case=op.as_strategy(generation_mode=mode))
        def one(case: Any) -> None:
            calls["n"] += 1
            auth = AUTH_BAD[calls["n"] // 5 % len(AUTH_BAD)] if calls["n"] % 5 == 0 else "valid"
            _exercise(w, case, auth, doc == SPOT_DOC, (case.method, case.path) in private)

        try:
            one()
        except Unsatisfiable:  # nothing in this operation can violate the schema (no parameters)
            skipped.append(op.label)
    assert calls["n"] >= len(ops) - len(skipped)


@pytest.mark.parametrize("doc", [SPOT_DOC, FUTURES_DOC], ids=["spot", "futures"])
def test_documented_examples(world: World, doc: str) -> None:
    """Each documented request example, signed, is accepted (the handler's success
    path runs); mis-signed in every way, it is refused and changes nothing."""
    raw, ops, private = _load(world, doc)
    tried = 0
    for op in ops:
        media = raw["paths"][op.path][op.method.lower()].get("requestBody", {}).get("content", {})
        for media_type, spec in media.items():
            if "example" not in spec:
                continue
            tried += 1
            case = op.Case(body=dict(spec["example"]), media_type=media_type)
            for auth in AUTH_BAD:
                assert _exercise(world, case, auth, doc == SPOT_DOC, True), (op.label, auth)
            assert not _exercise(world, case, "valid", doc == SPOT_DOC, True), op.label
    assert tried >= 3


@pytest.mark.parametrize("mode", [POSITIVE, NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("doc", [SPOT_DOC, FUTURES_DOC], ids=["spot", "futures"])
def test_rest_openapi_fuzz(venue: KrakenVenue, world: World, doc: str, mode: Any) -> None:
    world.outcomes.clear()
    _fuzz(world, doc, mode)
    print(doc, mode, "outcomes:", world.outcomes)
    assert world.outcomes.get("refused:unsigned", 0) >= 5, world.outcomes  # the mis-signed calls happened
    if mode == POSITIVE:
        assert world.outcomes.get("ok:signed", 0) >= 20, world.outcomes  # and the handlers were reached
    assert_alive(venue, world.creds)
    futures_alive(venue, world.creds)
