"""The exchange through the CLI against a real `suanli up`: the operator funds a tenant
and issues it a voucher, offers the local cluster's cores for a block, the tenant bids
(its maximum cost held), the auction clears (one seller: trade reduction withholds it),
the tenant withdraws (its hold comes back), and balances, statements (text, CSV, HTML),
prices, the ledger check and the voucher report all answer."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from tests.e2e.cli import js, new_token, ok, refused
from tests.e2e.harness import Server


def test_a_tenant_bids_for_a_block_and_reads_its_bill(server: Server) -> None:
    srv = server
    ok(srv, None, "tenant", "add", "acme", "--sector", "工业", "--size", "small")
    ok(srv, None, "user", "add", "ann", "--tenant", "acme", "--role", "consumer")
    ann = new_token(srv, "ann")
    ok(srv, None, "ledger", "deposit", "acme", "100.00", "--reference", "bank-001")
    ok(srv, None, "ledger", "deposit", "acme", "100.00", "--reference", "bank-001")  # once
    assert js(srv, ann, "balance")["cash"] == "100.00"
    expires = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
    voucher = ok(
        srv,
        None,
        "voucher",
        "issue",
        "acme",
        "--share",
        "0.2",
        "--cap-invoice",
        "50",
        "--cap-year",
        "500",
        "--expires",
        expires,
        "--sector",
        "industry",
        "--size",
        "small",
    ).strip()
    assert voucher.startswith("v-")
    assert "finance" in refused(
        srv,
        None,
        "voucher",
        "issue",
        "acme",
        "--share",
        "0.2",
        "--cap-invoice",
        "50",
        "--cap-year",
        "500",
        "--expires",
        expires,
        "--sector",
        "finance",
    )

    block = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    start = block.strftime("%Y-%m-%dT%H:00Z")
    ok(
        srv,
        None,
        "market",
        "offer",
        "--cluster",
        "local",
        "--start",
        start,
        "--hours",
        "1",
        "--devices",
        "1",
        "--reserve",
        "1.00",
    )
    assert "not a binary float" not in refused(
        srv,
        ann,
        "market",
        "bid",
        "--unit",
        "cpu",
        "--quantity",
        "1",
        "--limit",
        "1e400",
        "--product",
        f"cpu@any/{start}+1h/reserved",
    )
    assert "deposit" in refused(
        srv,
        ann,
        "market",
        "bid",
        "--unit",
        "cpu",
        "--quantity",
        "100",
        "--limit",
        "5",
        "--product",
        f"cpu@any/{start}+1h/reserved",
    )
    bid = ok(
        srv,
        ann,
        "market",
        "bid",
        "--unit",
        "cpu",
        "--quantity",
        "2",
        "--limit",
        "3.50",
        "--product",
        f"cpu@any/{start}+1h/reserved",
    ).strip()
    assert js(srv, ann, "balance")["escrow"] == "7.00"
    book = js(srv, ann, "market", "book")
    assert book["bids_open"] == 1 and [b["id"] for b in book["own_bids"]] == [bid]
    assert "may not market:clear" in refused(srv, ann, "market", "clear")
    clearing = js(srv, None, "market", "clear")
    assert clearing["trades"] == 0 and clearing["reduced"] == [f"cpu@local/{start}+1h/reserved"]
    ok(srv, ann, "market", "withdraw", bid)
    assert js(srv, ann, "balance") | {"tenant": "acme"} == {
        "tenant": "acme",
        "cash": "100.00",
        "escrow": "0.00",
        "credit": "0.00",
        "available": "100.00",
        "payable": "0.00",
    }

    month = datetime.now(UTC).strftime("%Y-%m")
    rows = list(csv.reader(io.StringIO(ok(srv, ann, "bill", "--month", month, "--format", "csv"))))
    assert rows[0][0] == "date" and rows[-1][4] == "100.00"
    assert {r[1] for r in rows[1:-1]} >= {"deposit", "hold", "release"}
    assert "账单" in ok(srv, ann, "bill", "--month", month, "--format", "html")
    assert "deposit" in ok(srv, ann, "bill", "--month", month)
    assert js(srv, None, "ledger", "check")["ok"] is True
    assert js(srv, ann, "market", "prices")["last_clearing"]["id"] == clearing["id"]
    (mine,) = js(srv, ann, "voucher", "list")
    assert (mine["id"], mine["used_this_year"]) == (voucher, "0.00")
    (row,) = js(srv, None, "voucher", "report")
    assert (row["sector"], row["issued"]) == ("industry", 1)
