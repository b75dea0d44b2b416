"""A tenant's monthly statement from its ledger lines, as data, CSV and an HTML page.

Opening balance: the tenant's cash and escrow before the month; each line an entry on
them in the month; closing = opening + the lines. Movements between the tenant's own
cash and escrow (holds and releases) appear on both and cancel out; the totals by kind
say what the month cost (compute, blocks), brought in (deposits, subsidies, refunds).
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from suanli.domain.ledger import LedgerLine
from suanli.domain.money import fmt

KIND_LABELS = {
    "deposit": "充值 / Deposit",
    "hold": "冻结 / Held",
    "release": "解冻 / Released",
    "settle": "算力使用 / Compute used",
    "trade": "时段购买 / Block bought",
    "block": "时段结算 / Block settled",
    "penalty": "违约赔付 / Penalty received",
    "subsidy": "算力券补贴 / Voucher subsidy",
    "payout": "提现 / Payout",
}


@dataclass(frozen=True, slots=True)
class Statement:
    tenant_id: str
    tenant_name: str
    month: str
    opening: Decimal
    lines: tuple[LedgerLine, ...]

    @property
    def closing(self) -> Decimal:
        return self.opening + sum((line.amount for line in self.lines), Decimal(0))

    def totals(self) -> dict[str, Decimal]:
        """Net movement of the tenant's money per posting kind (holds net out)."""
        out: dict[str, Decimal] = {}
        for line in self.lines:
            out[line.kind] = out.get(line.kind, Decimal(0)) + line.amount
        return {k: v for k, v in out.items() if v != 0}


def build(
    tenant_id: str, tenant_name: str, month: str, opening: Decimal, lines: Sequence[LedgerLine]
) -> Statement:
    return Statement(tenant_id, tenant_name, month, opening, tuple(lines))


HEADER = ("date", "kind", "account", "amount_cny", "balance_cny", "memo", "reference")


def render_csv(s: Statement) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADER)
    w.writerow([f"{s.month}-01", "opening", "", "", f"{s.opening:.2f}", "Opening balance", ""])
    balance = s.opening
    for line in s.lines:
        balance += line.amount
        w.writerow(
            [
                line.at.strftime("%Y-%m-%d %H:%M:%S"),
                line.kind,
                line.account.rsplit(":", 1)[-1],
                f"{line.amount:.2f}",
                f"{balance:.2f}",
                line.memo,
                line.key,
            ]
        )
    w.writerow(["", "closing", "", "", f"{s.closing:.2f}", "Closing balance", ""])
    return out.getvalue()


def render_html(s: Statement) -> str:
    e = html.escape
    rows = []
    balance = s.opening
    for line in s.lines:
        balance += line.amount
        rows.append(
            "<tr>"
            f"<td>{e(line.at.strftime('%Y-%m-%d %H:%M'))}</td>"
            f"<td>{e(KIND_LABELS.get(line.kind, line.kind))}</td>"
            f"<td>{e(line.account.rsplit(':', 1)[-1])}</td>"
            f"<td class=n>{e(fmt(line.amount))}</td><td class=n>{e(fmt(balance))}</td>"
            f"<td>{e(line.memo)}</td></tr>"
        )
    totals = "".join(
        f"<tr><td>{e(KIND_LABELS.get(k, k))}</td><td class=n>{e(fmt(v))}</td></tr>"
        for k, v in sorted(s.totals().items())
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>账单 / Statement {e(s.tenant_id)} {e(s.month)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}.n{{text-align:right}}</style></head>
<body>
<h1>算力账单 / Compute statement</h1>
<p>租户 / Tenant: <b>{e(s.tenant_name)}</b> ({e(s.tenant_id)}) &middot;
月份 / Month: {e(s.month)}</p>
<p>期初余额 / Opening balance: <b>{e(fmt(s.opening))}</b> CNY &middot;
期末余额 / Closing balance: <b>{e(fmt(s.closing))}</b> CNY</p>
<h2>汇总 / Totals</h2><table><tr><th>类别 / Kind</th><th>金额 / CNY</th></tr>{totals}</table>
<h2>明细 / Entries</h2>
<table><tr><th>时间 / Time (UTC)</th><th>类别 / Kind</th><th>账户 / Account</th>
<th>金额 / Amount</th><th>余额 / Balance</th><th>说明 / Memo</th></tr>
{"".join(rows)}</table>
</body></html>
"""
