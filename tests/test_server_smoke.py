import json
import urllib.request


def test_health_and_admin(kraken_venue):
    with urllib.request.urlopen(kraken_venue.spot_rest + "/health") as r:
        assert json.loads(r.read()) == {"status": "ok"}
    acct = kraken_venue.admin.create_account({"XBT": "1.5", "USD": "1000"})
    view = kraken_venue.admin.account(acct["account_id"])
    assert view["balances"] == {"XBT": "1.5", "USD": "1000"}
    assert kraken_venue.admin.journal()[-1]["command"] == "create_account"
