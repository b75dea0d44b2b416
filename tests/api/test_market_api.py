"""The exchange, billing and vouchers over HTTP: a provider's offer and a tenant's sealed
bid cleared into a trade, paid from escrow, resold, delivered and paid out; balances,
credit lines, statements (JSON, CSV, HTML), the ledger check; vouchers issued, listed,
reported and revoked. Bad input (JSON numbers for money, a bad product key, an unknown
tenant, a consumer clearing the market) is a 4xx that says what to do and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from suanli.adapters.clock import ManualClock
from suanli.api.app import create_app
from suanli.platform import Platform, PlatformConfig
from suanli.services.bootstrap import bootstrap_local
from tests.api.test_access_matrix import _snapshot
from tests.api.test_http_api import assert_problem, auth
from tests.conftest import START

BLOCK = START + timedelta(hours=2)
"""The block traded in these tests: four hours from 10:00 UTC on the test day."""
PRODUCT = f"gpu:H100@any/{BLOCK:%Y-%m-%dT%H:00Z}+4h/reserved"


@dataclass
class Market:
    plat: Platform
    api: TestClient
    clock: ManualClock
    op: dict[str, str]
    """Headers of the operator."""
    ann: dict[str, str]
    """Headers of a consumer of tenant acme."""
    pat: dict[str, str]
    """Headers of the admin of provider prov (cluster c1: 4 x H100, 16 cores)."""

    def ok(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        """Call and return the JSON of a 2xx answer (failing with the body otherwise)."""
        response = self.api.request(method, path, headers=headers, **kw)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    """A platform set up through the API alone: a region, a provider with one cluster
    whose agent has registered its node, tenant acme with consumer ann, provider admin
    pat."""
    clock = ManualClock(START)
    # one seller per product here: cleared without trade reduction (tested on its own)
    config = PlatformConfig(f"sqlite:///{tmp_path / 'm.db'}", thin_market_sellers=1)
    plat = Platform(config, clock=clock)
    local = bootstrap_local(plat.store, clock, plat.ids, user="alice", previous=None)
    api = TestClient(create_app(plat), raise_server_exceptions=False)
    op = auth(local.operator)

    def post(path: str, body: dict[str, Any], headers: dict[str, str] = op) -> Any:
        response = api.post(path, json=body, headers=headers)
        assert response.status_code == 201, f"{path}: {response.text}"
        return response.json()

    post("/v1/regions", {"id": "bj", "name": "Beijing"})
    post("/v1/providers", {"id": "prov", "name": "Provider"})
    cluster = post(
        "/v1/clusters", {"id": "c1", "provider_id": "prov", "region_id": "bj", "engine": "local"}
    )
    node = {"hostname": "n1", "cpus": 16, "memory_mb": 65536, "gpus": {"H100": 4}}
    registered = api.post(
        "/v1/agent/register",
        json={"nodes": [node], "agent_version": "t", "known": []},
        headers=auth(cluster["agent_token"]),
    )
    assert registered.status_code == 200, registered.text
    post("/v1/tenants", {"id": "acme", "name": "Acme", "sector": "finance"})
    post("/v1/users", {"id": "ann", "role": "consumer", "tenant_id": "acme"})
    post("/v1/users", {"id": "pat", "role": "provider", "provider_id": "prov"})
    secrets = {u: post("/v1/tokens", {"user_id": u})["token"] for u in ("ann", "pat")}
    try:
        yield Market(plat, api, clock, op, auth(secrets["ann"]), auth(secrets["pat"]))
    finally:
        plat.close()


def _offer(m: Market, **change: Any) -> Any:
    body = {
        "cluster": "c1",
        "model": "H100",
        "start": BLOCK.isoformat(),
        "hours": 4,
        "lane": "reserved",
        "devices": 2,
        "reserve": "10.00",
        **change,
    }
    return m.ok("POST", "/v1/market/offers", m.pat, json=body)


def _bid(m: Market, **change: Any) -> Any:
    body = {"unit": "gpu:H100", "quantity": "8", "limit": "12.00", "products": [PRODUCT]}
    return m.ok("POST", "/v1/market/bids", m.ann, json={**body, **change})


def _deposit(m: Market, amount: str = "1000.00", reference: str = "bank-001") -> Any:
    body = {"tenant": "acme", "amount": amount, "reference": reference}
    return m.ok("POST", "/v1/billing/deposits", m.op, json=body)


def test_an_offer_and_a_bid_clear_into_a_trade_paid_from_escrow_and_paid_out(
    market: Market,
) -> None:
    m = market
    funded = _deposit(m)
    assert (funded["tenant"], funded["cash"], funded["available"]) == ("acme", "1000.00", "1000.00")
    # the same bank reference again records nothing more
    assert _deposit(m)["cash"] == "1000.00"

    offer = _offer(m)
    assert offer["product"] == f"gpu:H100@bj/{BLOCK:%Y-%m-%dT%H:00Z}+4h/reserved"
    assert (offer["provider"], offer["status"], offer["reserve"]) == ("prov", "open", "10.00")
    bid = _bid(m)
    assert (bid["tenant"], bid["status"], bid["held"]) == ("acme", "open", "96.00")
    held = m.ok("GET", "/v1/billing/balance", m.ann)
    assert (held["escrow"], held["available"]) == ("96.00", "904.00")

    book = m.ok("GET", "/v1/market/book", m.ann)
    assert [(a["product"], a["reserve"], a["device_hours"]) for a in book["asks"]] == [
        (offer["product"], "10.00", "8")
    ]
    assert book["bids_open"] == 1 and [b["id"] for b in book["own_bids"]] == [bid["id"]]
    assert [o["id"] for o in m.ok("GET", "/v1/market/book", m.pat)["own_offers"]] == [offer["id"]]
    assert m.ok("GET", "/v1/market/book", m.pat)["own_bids"] == []  # bids are sealed

    clearing = m.ok("POST", "/v1/market/clear", m.op)
    assert (clearing["bids"], clearing["offers"], clearing["trades"]) == (1, 1, 1)
    (trade,) = m.ok("GET", "/v1/market/trades", m.ann)
    assert (trade["bid"], trade["offer"], trade["clearing"]) == (
        bid["id"],
        offer["id"],
        clearing["id"],
    )
    price, amount = Decimal(trade["price"]), Decimal(trade["amount"])
    assert Decimal("10.00") <= price <= Decimal("12.00")
    assert amount == price * Decimal(trade["units"]) and not trade["settled"]
    assert [t["id"] for t in m.ok("GET", "/v1/market/trades", m.pat)] == [trade["id"]]
    prices = m.ok("GET", "/v1/market/prices", m.ann)
    assert prices["last_clearing"]["id"] == clearing["id"]
    assert [c["id"] for c in m.ok("GET", "/v1/market/clearings", m.ann)] == [clearing["id"]]

    paid = m.ok("GET", "/v1/billing/balance", m.ann)
    assert Decimal(paid["cash"]) == Decimal(1000) - amount
    assert paid["escrow"] == "0.00"  # the bid is filled: what it held beyond the trade is free
    check = m.ok("GET", "/v1/ledger/check", m.op)
    assert (check["ok"], check["total"], check["unbalanced"], check["negative_escrow"]) == (
        True,
        "0.00",
        [],
        [],
    )

    # delivered: once the block has ended the provider is owed the price less the fee
    assert m.ok("GET", "/v1/billing/providers/prov/balance", m.pat)["payable"] == "0.00"
    m.clock.advance((BLOCK + timedelta(hours=4, minutes=1) - START).total_seconds())
    m.plat.exchange.run_once()
    (settled,) = m.ok("GET", "/v1/market/trades", m.ann)
    assert settled["settled"]
    owed = Decimal(m.ok("GET", "/v1/billing/providers/prov/balance", m.pat)["payable"])
    assert Decimal(0) < owed <= amount
    body = {"provider": "prov", "amount": str(owed), "reference": "wire-7"}
    assert m.ok("POST", "/v1/billing/payouts", m.op, json=body)["payable"] == "0.00"
    assert m.ok("GET", "/v1/ledger/check", m.op)["ok"]


def test_a_won_block_is_resold_and_orders_are_withdrawn(market: Market) -> None:
    m = market
    _deposit(m)
    _offer(m)
    _bid(m)
    m.ok("POST", "/v1/market/clear", m.op)
    (trade,) = m.ok("GET", "/v1/market/trades", m.ann)
    resale = m.ok(
        "POST", f"/v1/market/trades/{trade['id']}/resell", m.ann, json={"reserve": "15.00"}
    )
    assert (resale["resale_of"], resale["reserve"], resale["devices"]) == (trade["id"], "15.00", 2)
    assert_problem(
        m.api.post(
            f"/v1/market/trades/{trade['id']}/resell", json={"reserve": "16"}, headers=m.ann
        ),
        409,
        "nothing left to resell",
    )
    # an open bid holds its maximum cost until withdrawn
    later = f"gpu:H100@any/{BLOCK + timedelta(hours=8):%Y-%m-%dT%H:00Z}+4h/reserved"
    bid = _bid(m, quantity="4", limit="5.00", products=[later])
    assert m.ok("GET", "/v1/billing/balance", m.ann)["escrow"] == "20.00"
    withdrawn = m.ok("DELETE", f"/v1/market/bids/{bid['id']}", m.ann)
    assert withdrawn["status"] == "withdrawn"
    assert m.ok("GET", "/v1/billing/balance", m.ann)["escrow"] == "0.00"
    assert_problem(m.api.delete(f"/v1/market/bids/{bid['id']}", headers=m.ann), 409, "withdrawn")
    offer = _offer(m, start=(BLOCK + timedelta(hours=8)).isoformat())
    assert m.ok("DELETE", f"/v1/market/offers/{offer['id']}", m.pat)["status"] == "withdrawn"
    assert_problem(m.api.delete(f"/v1/market/offers/{offer['id']}", headers=m.pat), 409)
    assert_problem(m.api.delete("/v1/market/offers/o-missing", headers=m.pat), 404, "no offer")


def test_credit_lines_and_an_operator_bidding_for_a_tenant(market: Market) -> None:
    m = market
    credit = m.ok("PUT", "/v1/billing/credit/acme", m.op, json={"credit": "500"})
    assert (credit["credit"], credit["available"]) == ("500.00", "500.00")
    _offer(m)
    bid = m.ok(
        "POST",
        "/v1/market/bids",
        m.op,
        json={
            "unit": "gpu:H100",
            "quantity": "8",
            "limit": "12",
            "products": [PRODUCT],
            "tenant": "acme",
        },
    )
    assert bid["tenant"] == "acme"
    assert m.ok("GET", "/v1/billing/balance", m.op, params={"tenant": "acme"})["escrow"] == "96.00"


def test_statements_as_json_csv_and_html(market: Market) -> None:
    m = market
    _deposit(m)
    month = f"{START:%Y-%m}"
    doc = m.ok("GET", "/v1/billing/statement", m.ann, params={"month": month})
    assert (doc["tenant"], doc["month"], doc["opening"], doc["closing"]) == (
        "acme",
        month,
        "0.00",
        "1000.00",
    )
    assert len(doc["lines"]) >= 1
    assert all(isinstance(line["amount"], str) for line in doc["lines"])
    csv = m.api.get(
        "/v1/billing/statement", params={"month": month, "format": "csv"}, headers=m.ann
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"] and "1000" in csv.text
    html = m.api.get(
        "/v1/billing/statement",
        params={"month": month, "format": "html", "tenant": "acme"},
        headers=m.op,
    )
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "acme" in html.text.lower()
    assert_problem(
        m.api.get("/v1/billing/statement", params={"month": "2026-13"}, headers=m.ann),
        422,
        "not a month",
    )
    assert_problem(
        m.api.get("/v1/billing/statement", params={"month": month, "format": "pdf"}, headers=m.ann),
        422,
        "format",
    )


def test_vouchers_are_issued_listed_reported_and_revoked(market: Market) -> None:
    m = market
    terms = {
        "tenant": "acme",
        "share": "0.2",
        "cap_per_invoice": "100",
        "cap_per_year": "1000",
        "expires": f"{START.year + 1}-12-31",
        "providers": ["prov"],
        "note": "算力券 pilot",
    }
    voucher = m.ok("POST", "/v1/vouchers", m.op, json=terms)
    assert (voucher["tenant"], voucher["share"]) == ("acme", "0.2")
    assert voucher["used_this_year"] == "0.00"
    assert voucher["providers"] == ["prov"] and voucher["revoked_at"] is None
    assert [v["id"] for v in m.ok("GET", "/v1/vouchers", m.ann)] == [voucher["id"]]
    assert_problem(m.api.get("/v1/vouchers", params={"tenant": "other"}, headers=m.ann), 404)
    report = m.ok("GET", "/v1/vouchers/report", m.op)
    assert [(r["sector"], r["issued"]) for r in report] == [("finance", 1)]
    assert_problem(m.api.get("/v1/vouchers/report", headers=m.ann), 403)
    assert_problem(m.api.post("/v1/vouchers", json=terms, headers=m.ann), 403)
    revoked = m.ok("DELETE", f"/v1/vouchers/{voucher['id']}", m.op)
    assert revoked["revoked_at"] is not None
    assert_problem(m.api.delete(f"/v1/vouchers/{voucher['id']}", headers=m.op), 409, "already")
    assert_problem(
        m.api.post("/v1/vouchers", json={**terms, "sizes": ["giant"]}, headers=m.op),
        422,
        "size",
    )


BAD: list[tuple[str, str, str, dict[str, Any] | None, int, str]] = [
    # (who, method, path, body, status, a word of the detail)
    ("op", "POST", "/v1/billing/deposits", {"tenant": "acme", "amount": 12.5, "reference": "x"},
     422, "decimal string"),
    ("op", "POST", "/v1/billing/deposits", {"tenant": "acme", "amount": 100, "reference": "x"},
     422, "decimal string"),
    ("op", "PUT", "/v1/billing/credit/acme", {"credit": 5e3}, 422, "decimal string"),
    ("ann", "POST", "/v1/market/bids",
     {"unit": "gpu:H100", "quantity": 8.0, "limit": "12", "products": [PRODUCT]},
     422, "decimal string"),
    ("ann", "POST", "/v1/market/bids",
     {"unit": "gpu:H100", "quantity": "8", "limit": 12.5, "products": [PRODUCT]},
     422, "decimal string"),
    ("pat", "POST", "/v1/market/offers",
     {"cluster": "c1", "model": "H100", "start": BLOCK.isoformat(), "hours": 4,
      "devices": 1, "reserve": 9.99},
     422, "decimal string"),
    ("ann", "POST", "/v1/market/bids",
     {"unit": "gpu:H100", "quantity": "8", "limit": "12", "products": ["H100 tomorrow"]},
     422, "not a product"),
    ("ann", "POST", "/v1/market/bids",
     {"unit": "gpu:H100", "quantity": "8", "limit": "12",
      "products": [f"gpu:A100@any/{BLOCK:%Y-%m-%dT%H:00Z}+4h/reserved"]},
     422, "not in the bid's unit"),
    ("ann", "POST", "/v1/market/bids",
     {"unit": "gpu:H100", "quantity": "8", "limit": "12.00001", "products": [PRODUCT]},
     422, "more than four decimals"),
    ("ann", "POST", "/v1/market/bids",
     {"unit": "gpu:H100", "quantity": "-1", "limit": "12", "products": [PRODUCT]},
     422, "quantity"),
    ("op", "POST", "/v1/market/bids",
     {"unit": "gpu:H100", "quantity": "8", "limit": "12", "products": [PRODUCT],
      "tenant": "nope"},
     404, "tenant"),
    ("op", "POST", "/v1/billing/deposits", {"tenant": "nope", "amount": "10", "reference": "x"},
     404, "tenant"),
    ("op", "PUT", "/v1/billing/credit/nope", {"credit": "10"}, 404, "tenant"),
    ("op", "GET", "/v1/billing/balance?tenant=nope", None, 404, "tenant"),
    ("ann", "GET", "/v1/billing/balance?tenant=beta", None, 404, "tenant"),
    ("op", "POST", "/v1/billing/payouts", {"provider": "prov", "amount": "1", "reference": "x"},
     422, "owed"),
    ("op", "POST", "/v1/billing/payouts", {"provider": "nope", "amount": "1", "reference": "x"},
     404, "provider"),
    ("ann", "POST", "/v1/market/clear", None, 403, "market:clear"),
    ("pat", "POST", "/v1/market/clear", None, 403, "market:clear"),
    ("ann", "POST", "/v1/billing/deposits", {"tenant": "acme", "amount": "10", "reference": "x"},
     403, "billing:write"),
    ("ann", "GET", "/v1/ledger/check", None, 403, "ledger:check"),
    ("pat", "POST", "/v1/market/offers",
     {"cluster": "c1", "model": "B200", "start": BLOCK.isoformat(), "hours": 4,
      "devices": 1, "reserve": "9"},
     422, "unknown gpu model"),
    ("pat", "POST", "/v1/market/offers",
     {"cluster": "c1", "model": "A800", "start": BLOCK.isoformat(), "hours": 4,
      "devices": 1, "reserve": "9"},
     409, "has no"),
    ("pat", "POST", "/v1/market/offers",
     {"cluster": "c1", "model": "H100", "start": BLOCK.isoformat(), "hours": 4,
      "devices": 5, "reserve": "9"},
     409, "already offered"),
    ("pat", "POST", "/v1/market/offers",
     {"cluster": "c1", "model": "H100", "start": (START - timedelta(hours=1)).isoformat(),
      "hours": 4, "devices": 1, "reserve": "9"},
     422, "future"),
    ("ann", "POST", "/v1/market/trades/t-missing/resell", {"reserve": "1"}, 404, "no trade"),
    ("op", "POST", "/v1/vouchers",
     {"tenant": "nope", "share": "0.2", "cap_per_invoice": "1", "cap_per_year": "2",
      "expires": "2030-01-01"},
     404, "tenant"),
    ("op", "POST", "/v1/vouchers",
     {"tenant": "acme", "share": 0.2, "cap_per_invoice": "1", "cap_per_year": "2",
      "expires": "2030-01-01"},
     422, "decimal string"),
    ("op", "POST", "/v1/vouchers",
     {"tenant": "acme", "share": "0.2", "cap_per_invoice": "1", "cap_per_year": "2",
      "expires": "2020-01-01"},
     422, "future"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status", "word"),
    BAD,
    ids=[f"{b[0]}-{b[1]}-{b[2]}-{b[4]}-{b[5]}" for b in BAD],
)
def test_bad_input_is_refused_with_what_to_do_and_writes_nothing(
    market: Market,
    who: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    word: str,
) -> None:
    m = market
    _deposit(m)
    _offer(m, devices=3)  # leaves one H100 of the four for the overlap check
    before = _snapshot(m.plat)
    headers = {"op": m.op, "ann": m.ann, "pat": m.pat}[who]
    problem = assert_problem(m.api.request(method, path, json=body, headers=headers), status, word)
    if status != 404:  # a 404 names what is missing; the rest say what to do instead
        assert problem.get("hint") or "to fix" in str(problem["detail"]).lower(), problem
    assert _snapshot(m.plat) == before, "a refused call changed the database"
