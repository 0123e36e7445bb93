"""Funding, Earn and subaccounts over real state, through python-kraken-sdk."""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Any

import pytest
from kraken.spot import Earn, Funding, Trade, User

from .helpers import Raw, sdk, sdk_error

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def funding(kraken_venue: Any, funded: dict[str, Any]) -> Funding:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sdk(Funding, kraken_venue, funded)


def test_deposit_methods_addresses_and_status(funding: Funding) -> None:
    assert funding.get_deposit_methods(asset="XBT") == [
        {"method": "Bitcoin", "limit": False, "fee": "0.0000000000", "gen-address": True, "minimum": "0.0005"}
    ]
    [first] = funding.get_deposit_address(asset="XBT", method="Bitcoin")  # the first one exists on demand
    assert first["address"].startswith("bc1q") and first["expiretm"] == "0" and "new" not in first
    assert funding.get_deposit_address(asset="XBT", method="Bitcoin") == [first]
    [new] = funding.get_deposit_address(asset="XBT", method="Bitcoin", new=True)
    assert new["address"] != first["address"] and new["new"] is True
    listed = [a["address"] for a in funding.get_deposit_address(asset="XBT", method="Bitcoin")]
    assert listed == [new["address"], first["address"]]
    assert "EFunding:No funding method" in sdk_error(lambda: funding.get_deposit_address(asset="XBT", method="Ether"))
    assert funding.get_deposit_address(asset="ETH", method="Ether", new=True)[0]["address"].startswith("0x")
    deposits = funding.get_recent_deposits_status(asset="XBT")
    assert [(d["asset"], d["amount"], d["status"], d["method"]) for d in deposits] == [
        ("XXBT", "2.0000000000", "Success", "Bitcoin")
    ]
    paged = funding.get_recent_deposits_status(cursor=True)
    assert len(paged["deposit"]) == 4 and paged["next_cursor"] is None


def test_withdraw_reserves_then_settles_on_the_venue_clock(
    kraken_venue: Any, funded: dict[str, Any], funding: Funding
) -> None:
    kraken_venue.admin.freeze()
    user = sdk(User, kraken_venue, funded)
    [m] = funding.withdraw_methods(asset="XBT")
    assert m == {"asset": "XXBT", "method": "Bitcoin", "network": "Bitcoin", "minimum": "0.0005"}
    [key] = funding.withdraw_addresses(asset="XBT")
    assert key["key"] == "btc-wallet" and key["verified"] is True
    info = funding.get_withdrawal_info(asset="XBT", key="btc-wallet", amount="0.5")
    assert info == {"method": "Bitcoin", "limit": "2.0000000000", "amount": "0.4998500000", "fee": "0.0001500000"}
    ref = funding.withdraw_funds(asset="XBT", key="btc-wallet", amount="0.5")["refid"]
    # reserved at once: Balance is net of the pending withdrawal, and it cannot be traded
    assert user.get_account_balance()["XXBT"] == "1.5000000000"
    assert user.get_balances()["XXBT"] == {"balance": "1.5000000000", "hold_trade": "0.0000000000"}
    trade = sdk(Trade, kraken_venue, funded)
    assert "EOrder:Insufficient funds" in sdk_error(
        lambda: trade.create_order(ordertype="limit", side="sell", pair="XBTUSD", volume="1.6", price="99000")
    )
    [w] = funding.get_recent_withdraw_status(asset="XBT")
    assert (w["refid"], w["status"], w["amount"], w["fee"], w["key"], w["txid"]) == (
        ref, "Pending", "0.4998500000", "0.0001500000", "btc-wallet", ""
    )  # fmt: skip
    kraken_venue.admin.advance(5_000)
    [w] = funding.get_recent_withdraw_status()
    assert w["status"] == "Success" and len(w["txid"]) == 64 and w["info"] == key["address"]
    assert user.get_account_balance()["XXBT"] == "1.5000000000"
    entry = next(iter(user.get_ledgers_info(asset="XBT", type_="withdrawal")["ledger"].values()))
    assert (entry["refid"], entry["amount"], entry["fee"], entry["balance"]) == (
        ref, "-0.4998500000", "0.0001500000", "1.5000000000"
    )  # fmt: skip
    # cancel before settlement gives the funds back
    ref2 = funding.withdraw_funds(asset="XBT", key="btc-wallet", amount="1")["refid"]
    assert user.get_account_balance()["XXBT"] == "0.5000000000"
    assert funding.cancel_withdraw(asset="XBT", refid=ref2) is True
    assert user.get_account_balance()["XXBT"] == "1.5000000000"
    w2 = funding.get_recent_withdraw_status(asset="XBT")[0]
    assert (w2["status"], w2["status-prop"]) == ("Failure", "canceled")
    kraken_venue.admin.advance(10_000)
    assert user.get_account_balance()["XXBT"] == "1.5000000000"
    paged = funding.get_recent_withdraw_status(cursor=True)
    assert len(paged["withdrawals"]) == 2 and paged["next_cursor"] is None


def test_withdraw_errors(funding: Funding, kraken_venue: Any) -> None:
    assert "EFunding:Unknown withdraw key" in sdk_error(
        lambda: funding.withdraw_funds(asset="XBT", key="nope", amount="0.1")
    )
    assert "EFunding:Max fee exceeded" in sdk_error(
        lambda: funding.withdraw_funds(asset="XBT", key="btc-wallet", amount="0.1", max_fee="0.0001")
    )
    assert "EFunding:Insufficient funds" in sdk_error(
        lambda: funding.withdraw_funds(asset="XBT", key="btc-wallet", amount="3")
    )
    assert "EFunding:Invalid amount" in sdk_error(
        lambda: funding.withdraw_funds(asset="XBT", key="btc-wallet", amount="0.0001")
    )
    assert "EFunding:Unknown reference id" in sdk_error(
        lambda: funding.cancel_withdraw(asset="XBT", refid="AAAAAA-BBBBB-CCCCCC")
    )
    assert "EFunding:Unknown asset" in sdk_error(lambda: funding.get_deposit_methods(asset="NOPE"))
    journal = kraken_venue.admin.journal(events=True)
    assert all(not e["events"] for e in journal if e["command"].startswith("funding_"))


def test_wallet_transfer_uses_the_futures_hook(
    kraken_venue: Any, funded: dict[str, Any], funding: Funding, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, Decimal]] = []

    def credit(account_id: str, asset: str, amount: Decimal) -> None:
        if asset == "ETH":
            raise ValueError("no ETH wallet on futures")
        calls.append((account_id, asset, amount))

    monkeypatch.setattr(kraken_venue.runtime.venue, "deposit_derivatives", credit)
    res = funding.wallet_transfer(asset="XBT", from_="Spot Wallet", to_="Futures Wallet", amount="0.25")
    assert res["refid"]
    assert calls == [(funded["account_id"], "XBT", Decimal("0.25"))]
    user = sdk(User, kraken_venue, funded)
    assert user.get_account_balance()["XXBT"] == "1.7500000000"
    # a failed futures credit puts the spot funds back
    assert "Invalid arguments" in sdk_error(
        lambda: funding.wallet_transfer(asset="ETH", from_="Spot Wallet", to_="Futures Wallet", amount="1")
    )
    assert user.get_account_balance()["XETH"] == "10.0000000000"
    assert "Invalid arguments:to" in sdk_error(
        lambda: funding.wallet_transfer(asset="XBT", from_="Spot Wallet", to_="Moon", amount="1")
    )


def test_subaccounts(kraken_venue: Any, funded: dict[str, Any]) -> None:
    user = sdk(User, kraken_venue, funded)
    assert user.create_subaccount(username="desk-a", email="desk-a@example.com") is True
    master_id = funded["account_id"]
    [sub_id] = kraken_venue.admin.account(master_id)["subaccounts"]
    res = user.account_transfer(asset="XBT", amount="0.5", from_=master_id, to_="desk-a")
    assert res["status"] == "complete" and res["transfer_id"]
    assert kraken_venue.admin.account(sub_id)["balances"] == {"XBT": "0.5"}
    assert user.get_account_balance()["XXBT"] == "1.5000000000"
    user.account_transfer(asset="XBT", amount="0.2", from_=sub_id, to_=master_id)
    assert user.get_account_balance()["XXBT"] == "1.7000000000"
    assert "Invalid arguments" in sdk_error(
        lambda: user.account_transfer(asset="XBT", amount="1", from_=master_id, to_="stranger")
    )
    assert "EFunding:Insufficient funds" in sdk_error(
        lambda: user.account_transfer(asset="XBT", amount="5", from_=master_id, to_=sub_id)
    )
    assert "Invalid arguments" in sdk_error(
        lambda: user.create_subaccount(username="desk-a", email="again@example.com")
    )
    entries = user.get_ledgers_info(asset="XBT", type_="transfer")["ledger"].values()
    assert sorted(e["amount"] for e in entries) == ["-0.5000000000", "0.2000000000"]


def test_earn(kraken_venue: Any, funded: dict[str, Any]) -> None:
    earn = sdk(Earn, kraken_venue, funded)
    user = sdk(User, kraken_venue, funded)
    strategies = earn.list_earn_strategies(asset="XBT")
    [s] = strategies["items"]
    assert s["asset"] == "XBT" and s["lock_type"]["type"] == "instant" and strategies["next_cursor"] is None
    sid = s["id"]
    assert earn.allocate_earn_funds(amount="0.5", strategy_id=sid) is True
    assert earn.get_allocation_status(strategy_id=sid) == {"pending": False}
    bal = user.get_account_balance()
    assert bal["XXBT"] == "1.5000000000" and bal["XBT.B"] == "0.5000000000"
    allocs = earn.list_earn_allocations(converted_asset="USD")
    [item] = allocs["items"]
    assert item["strategy_id"] == sid and item["amount_allocated"]["total"]["native"] == "0.5000000000"
    assert Decimal(allocs["total_allocated"]) > 40000 and allocs["converted_asset"] == "USD"
    assert earn.deallocate_earn_funds(amount="0.2", strategy_id=sid) is True
    assert earn.get_deallocation_status(strategy_id=sid) == {"pending": False}
    assert user.get_account_balance()["XBT.B"] == "0.3000000000"
    assert "Insufficient funds" in sdk_error(lambda: earn.deallocate_earn_funds(amount="1", strategy_id=sid))
    assert "Below min" in sdk_error(lambda: earn.allocate_earn_funds(amount="0.000001", strategy_id=sid))
    assert "Invalid strategy ID" in sdk_error(
        lambda: earn.allocate_earn_funds(amount="1", strategy_id="ESNOPE-NOPE-NOPE")
    )
    earn.deallocate_earn_funds(amount="0.3", strategy_id=sid)
    assert earn.list_earn_allocations(hide_zero_allocations=True)["items"] == []
    assert "XBT.B" not in user.get_account_balance()
    raw = Raw(kraken_venue, kraken_venue.admin.create_account({"USD": "1"}, permissions=["query_funds"]))
    assert raw.error("Earn/Allocate", {"amount": "1", "strategy_id": sid}) == "EGeneral:Permission denied"


def test_withdraw_delay_is_configurable(kraken_venue: Any, funded: dict[str, Any], funding: Funding) -> None:
    config = kraken_venue.runtime.venue.config.funding
    kraken_venue.call(setattr, config, "withdraw_delay_s", 0)
    try:
        ref = funding.withdraw_funds(asset="USD", key="usd-bank", amount="100")["refid"]
        [w] = funding.get_recent_withdraw_status(asset="USD")
        assert (w["refid"], w["status"], w["amount"], w["fee"], w["method"]) == (
            ref,
            "Success",
            "95.0000",
            "5.0000",
            "Bank Frick (Wire)",
        )
        assert sdk(User, kraken_venue, funded).get_account_balance()["ZUSD"] == "99900.0000"
    finally:
        kraken_venue.call(setattr, config, "withdraw_delay_s", 5.0)
