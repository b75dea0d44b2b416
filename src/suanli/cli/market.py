"""`suanli market|balance|bill|ledger|voucher`: the compute exchange, money and vouchers.

Money is typed and shown as decimal text in CNY; --json prints the API's answer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from suanli.cli import render
from suanli.cli.common import JsonOpt, TokenOpt, UrlOpt, call, client, fail, operator_client

market_app = typer.Typer(no_args_is_help=True, help="The compute exchange (算力交易中心).")
ledger_app = typer.Typer(no_args_is_help=True, help="The ledger: deposits, credit, payouts.")
voucher_app = typer.Typer(no_args_is_help=True, help="Compute vouchers (算力券).")


def _minute(value: Any) -> str:
    return render.when(value, minutes=True)


def _start(text: str) -> str:
    """A block start as ISO UTC; accepts '2026-12-04T08:00Z' or '2026-12-04 08:00'."""
    raw = text.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        fail(f"--start {text!r} is not a time; write e.g. 2026-12-04T08:00Z.", 2)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


@market_app.command("offer")
def offer(
    cluster: Annotated[str, typer.Option(help="your cluster")],
    start: Annotated[str, typer.Option(help="block start, UTC, on the hour: 2026-12-04T08:00Z")],
    hours: Annotated[int, typer.Option(help="block length in hours")],
    devices: Annotated[int, typer.Option(help="devices (cores for CPU) offered")],
    reserve: Annotated[str, typer.Option(help="lowest CNY per device-hour")],
    model: Annotated[str | None, typer.Option(help="device model; leave out for CPU")] = None,
    lane: Annotated[str, typer.Option(help="reserved or preemptible")] = "reserved",
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Offer devices of one of your clusters for a block."""
    body = {
        "cluster": cluster,
        "model": model,
        "start": _start(start),
        "hours": hours,
        "lane": lane,
        "devices": devices,
        "reserve": reserve,
    }
    with operator_client(url, token) as c:
        data = call(c.offer, body)
    if json_out:
        render.print_json(data)
    else:
        render.err.print(
            f"offer {data['id']}: {data['devices']} x {data['product']} "
            f"at >= {data['reserve']} CNY/device-hour"
        )
        render.out.print(data["id"])


@market_app.command("bid")
def bid(
    unit: Annotated[str, typer.Option(help="gpu:MODEL, cpu, or sch:ai|general|hpc")],
    quantity: Annotated[str, typer.Option(help="units to buy")],
    limit: Annotated[str, typer.Option(help="highest CNY per unit")],
    product: Annotated[list[str], typer.Option("--product", help="an acceptable product (repeat)")],
    tenant: Annotated[str | None, typer.Option(help="operators: bid for this tenant")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """A sealed bid; its maximum cost (quantity x limit) is held from your balance."""
    body = {
        "unit": unit,
        "quantity": quantity,
        "limit": limit,
        "products": product,
        "tenant": tenant,
    }
    with client(url, token) as c:
        data = call(c.bid, body)
    if json_out:
        render.print_json(data)
    else:
        render.err.print(
            f"bid {data['id']}: {data['quantity']} {data['unit']} at <= {data['limit']} CNY; "
            f"{data['held']} CNY held"
        )
        render.out.print(data["id"])


@market_app.command("withdraw")
def withdraw(
    order: Annotated[str, typer.Argument(help="a bid (b-...) or offer (o-...) id")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Withdraw an open bid (its hold is released) or offer."""
    with client(url, token) as c:
        data = call(c.withdraw_bid if order.startswith("b-") else c.withdraw_offer, order)
    render.err.print(f"{data['id']} {data['status']}")


@market_app.command("resell")
def resell(
    trade: Annotated[str, typer.Argument(help="a trade of yours whose block has not begun")],
    reserve: Annotated[str, typer.Option(help="lowest CNY per device-hour")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Offer a won block onward."""
    with client(url, token) as c:
        data = call(c.resell, trade, reserve)
    render.err.print(
        f"offer {data['id']}: {data['devices']} x {data['product']} at >= {data['reserve']}"
    )
    render.out.print(data["id"])


@market_app.command("book")
def book(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Open offers by product and reserve; bids are sealed (counts only), except yours."""
    with client(url, token) as c:
        data = call(c.book)
    if json_out:
        render.print_json(data)
        return
    render.table(
        ("product", "reserve CNY/dh", "device-hours"),
        [(a["product"], a["reserve"], a["device_hours"]) for a in data["asks"]],
    )
    render.err.print(f"{data['bids_open']} sealed bid(s) open")
    if data["own_bids"]:
        render.table(
            ("your bid", "unit", "quantity", "limit", "filled", "held"),
            [
                (b["id"], b["unit"], b["quantity"], b["limit"], b["filled"], b["held"])
                for b in data["own_bids"]
            ],
        )


@market_app.command("clear")
def clear(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Clear the call auction now (operator)."""
    with operator_client(url, token) as c:
        data = call(c.clear)
    if json_out:
        render.print_json(data)
        return
    render.err.print(
        f"clearing {data['id']}: {data['trades']} trade(s) from {data['bids']} bid(s) and "
        f"{data['offers']} offer(s); welfare {data['welfare']} CNY"
    )
    render.table(("product", "price CNY/device-hour"), sorted(data["prices"].items()))
    if data["reduced"]:
        render.err.print("trade reduction (one seller): " + ", ".join(data["reduced"]))


@market_app.command("trades")
def trades(
    tenant: Annotated[str | None, typer.Option(help="operators and auditors: one tenant")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Your trades (a provider: its sales)."""
    with client(url, token) as c:
        data = call(c.trades, tenant)
    if json_out:
        render.print_json(data)
        return
    render.table(
        ("trade", "tenant", "cluster", "block", "device-h", "price", "amount", "state"),
        [
            (
                t["id"],
                t["tenant"],
                t["cluster"],
                f"{_minute(t['start'])} +{t['device_hours']}",
                t["device_hours"],
                t["price"],
                t["amount"],
                "failed" if t["failed_at"] else ("settled" if t["settled"] else "held"),
            )
            for t in data
        ],
    )


@market_app.command("prices")
def prices(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Posted on-demand and preemptible prices, and the last clearing's prices."""
    with client(url, token) as c:
        data = call(c.prices)
    if json_out:
        render.print_json(data)
        return
    render.table(
        ("cluster", "resource", "lane", "CNY/hour", "floor", "busy"),
        [
            (
                p["cluster"],
                p["resource"],
                p["lane"],
                p["price"],
                p["floor"],
                f"{p['utilisation']:.0%}",
            )
            for p in data["posted"]
        ],
    )
    last = data["last_clearing"]
    if last:
        render.err.print(f"last clearing {last['id']} at {_minute(last['at'])}:")
        render.table(("product", "price CNY/device-hour"), sorted(last["prices"].items()))


def balance(
    tenant: Annotated[str | None, typer.Option(help="operators and auditors: one tenant")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Your tenant's cash, escrow, credit line and what is available."""
    with client(url, token) as c:
        data = call(c.balance, tenant)
    if json_out:
        render.print_json(data)
        return
    render.table(
        ("tenant", "cash", "held", "credit", "available", "owed to you"),
        [
            (
                data["tenant"],
                data["cash"],
                data["escrow"],
                data["credit"],
                data["available"],
                data["payable"],
            )
        ],
    )


def bill(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month)")] = None,
    tenant: Annotated[str | None, typer.Option(help="operators and auditors: one tenant")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, csv or html")] = "text",
    out: Annotated[Path | None, typer.Option(help="write the csv/html statement here")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """A monthly statement (账单): opening and closing balances and every entry."""
    if fmt not in ("text", "csv", "html"):
        fail("--format must be text, csv or html.", 2)
    month = month or datetime.now(UTC).strftime("%Y-%m")
    with client(url, token) as c:
        data = call(c.statement, month, tenant=tenant, fmt="json" if fmt == "text" else fmt)
    if fmt != "text":
        if out is not None:
            out.write_text(data, encoding="utf-8")
            render.err.print(f"statement written to {out}")
        else:
            render.out.print(data, end="", markup=False, highlight=False)
        return
    render.err.print(
        f"{data['tenant']} {data['month']}: opening {data['opening']} CNY, "
        f"closing {data['closing']} CNY"
    )
    render.table(
        ("time (UTC)", "kind", "account", "CNY", "memo"),
        [
            (_minute(x["at"]), x["kind"], x["account"].rsplit(":", 1)[-1], x["amount"], x["memo"])
            for x in data["lines"]
        ],
    )


@ledger_app.command("check")
def ledger_check(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Verify the whole ledger sums to zero; exits 1 if it does not."""
    with operator_client(url, token) as c:
        data = call(c.ledger_check)
    if json_out:
        render.print_json(data)
    elif data["ok"]:
        render.err.print(
            f"ledger balanced: {data['postings']} posting(s), total {data['total']} CNY"
        )
    if not data["ok"]:
        fail(
            f"ledger NOT balanced: total {data['total']}, unbalanced postings "
            f"{data['unbalanced']}, negative escrow {data['negative_escrow']}"
        )


@ledger_app.command("deposit")
def deposit(
    tenant: str,
    amount: str,
    reference: Annotated[str, typer.Option(help="the bank transfer's reference")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Record money received from a tenant (idempotent by reference)."""
    with operator_client(url, token) as c:
        data = call(c.deposit, tenant, amount, reference)
    render.err.print(f"{tenant}: cash {data['cash']} CNY, available {data['available']} CNY")


@ledger_app.command("credit")
def credit(tenant: str, amount: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Set a tenant's credit line."""
    with operator_client(url, token) as c:
        data = call(c.set_credit, tenant, amount)
    render.err.print(
        f"{tenant}: credit line {data['credit']} CNY, available {data['available']} CNY"
    )


@ledger_app.command("payout")
def payout(
    provider: str,
    amount: str,
    reference: Annotated[str, typer.Option(help="the bank transfer's reference")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Record money paid out to a provider."""
    with operator_client(url, token) as c:
        data = call(c.payout, provider, amount, reference)
    render.err.print(f"{provider}: still owed {data['payable']} CNY")


@voucher_app.command("issue")
def voucher_issue(
    tenant: str,
    share: Annotated[str, typer.Option(help="part of each invoice paid, e.g. 0.2")],
    cap_invoice: Annotated[str, typer.Option(help="most CNY on one invoice")],
    cap_year: Annotated[str, typer.Option(help="most CNY in a calendar year")],
    expires: Annotated[str, typer.Option(help="expiry date, e.g. 2027-06-30")],
    provider: Annotated[
        list[str] | None, typer.Option("--provider", help="whitelisted supplier (repeat)")
    ] = None,
    sector: Annotated[
        list[str] | None, typer.Option("--sector", help="eligible sector (repeat)")
    ] = None,
    size: Annotated[
        list[str] | None, typer.Option("--size", help="eligible firm size (repeat)")
    ] = None,
    note: str = "",
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Issue a voucher to an eligible tenant (operator)."""
    body = {
        "tenant": tenant,
        "share": share,
        "cap_per_invoice": cap_invoice,
        "cap_per_year": cap_year,
        "expires": _start(expires if "T" in expires else expires + "T00:00"),
        "providers": provider or [],
        "sectors": sector or [],
        "sizes": size or [],
        "note": note,
    }
    with operator_client(url, token) as c:
        data = call(c.issue_voucher, body)
    if json_out:
        render.print_json(data)
    else:
        render.err.print(
            f"voucher {data['id']} for {tenant}: {data['share']} of each invoice, up to "
            f"{data['cap_per_invoice']} per invoice and {data['cap_per_year']} a year"
        )
        render.out.print(data["id"])


@voucher_app.command("list")
def voucher_list(
    tenant: Annotated[str | None, typer.Option(help="operators and auditors: one tenant")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Vouchers and what each paid this year."""
    with client(url, token) as c:
        data = call(c.vouchers, tenant)
    if json_out:
        render.print_json(data)
        return
    render.table(
        ("voucher", "tenant", "share", "per invoice", "per year", "used", "expires", "suppliers"),
        [
            (
                v["id"],
                v["tenant"],
                v["share"],
                v["cap_per_invoice"],
                v["cap_per_year"],
                v["used_this_year"],
                _minute(v["expires_at"]) + (" (revoked)" if v["revoked_at"] else ""),
                ",".join(v["providers"]) or "any",
            )
            for v in data
        ],
    )


@voucher_app.command("revoke")
def voucher_revoke(voucher: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Revoke a voucher (operator)."""
    with operator_client(url, token) as c:
        call(c.revoke_voucher, voucher)
    render.err.print(f"voucher {voucher} revoked")


@voucher_app.command("report")
def voucher_report(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Vouchers issued, used and expired, by sector (operators and auditors)."""
    with operator_client(url, token) as c:
        data = call(c.voucher_report)
    if json_out:
        render.print_json(data)
        return
    render.table(
        ("sector", "issued", "caps CNY", "used CNY", "uses", "expired", "expired unused"),
        [
            (
                r["sector"],
                str(r["issued"]),
                r["issued_caps"],
                r["used"],
                str(r["uses"]),
                str(r["expired"]),
                r["expired_unused"],
            )
            for r in data
        ],
    )
