"""Voucher rules: eligibility at issue, the subsidy an invoice gets, and the report.

Subsidy of an invoice = min(share x amount rounded to the fen, the per-invoice cap, what
is left of the yearly cap in the invoice's calendar year, the amount). The voucher used
is the usable one (not revoked, issued, not expired, the provider on its whitelist)
expiring soonest that still pays something (its yearly cap not spent), ties by id: the
one that would lapse first is spent first. A subsidy is whole fen (rounded down).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from suanli.domain.errors import Conflict
from suanli.domain.ids import ProviderId
from suanli.domain.money import FEN, round_fen
from suanli.domain.vouchers import Voucher, VoucherId, VoucherUse


def check_eligible(sector: str, size: str, sectors: set[str], sizes: set[str]) -> None:
    """Conflict naming the rule the tenant fails (empty sets admit any)."""
    if sectors and sector not in sectors:
        raise Conflict(
            f"The tenant's sector is {sector}; this voucher scheme is for "
            f"{', '.join(sorted(sectors))}.",
            field="sectors",
            hint="issue it to an eligible tenant, or correct the tenant's sector.",
        )
    if sizes and size not in sizes:
        raise Conflict(
            f"The tenant's size is {size}; this voucher scheme is for "
            f"{', '.join(sorted(sizes))} firms.",
            field="sizes",
            hint="issue it to an eligible tenant, or record the tenant's size first.",
        )


def apply_voucher(
    vouchers: Sequence[Voucher],
    used_this_year: Mapping[VoucherId, Decimal],
    invoice_amount: Decimal,
    provider_id: ProviderId | None,
    at: datetime,
) -> tuple[VoucherId, Decimal] | None:
    """(voucher, subsidy) for an invoice, or None when no voucher pays on it.
    `used_this_year`: what each voucher paid in `at`'s calendar year. The soonest
    expiring usable voucher that pays something wins (ties by id)."""
    if invoice_amount <= 0:
        return None
    usable = sorted(
        (v for v in vouchers if v.usable(at, provider_id)), key=lambda v: (v.expires_at, v.id)
    )
    # The soonest-expiring voucher that still pays: one whose yearly cap is spent must
    # not keep a later voucher from paying.
    for v in usable:
        left = v.cap_per_year - used_this_year.get(v.id, Decimal(0))
        subsidy = min(round_fen(v.share * invoice_amount), v.cap_per_invoice, left, invoice_amount)
        # Down to the fen, so that a cap that is not whole fen still yields a posting.
        subsidy = subsidy.quantize(FEN, rounding=ROUND_DOWN)
        if subsidy > 0:
            return v.id, subsidy
    return None


@dataclass(frozen=True, slots=True)
class VoucherReportRow:
    """Per sector: vouchers issued (count, yearly caps), subsidies paid, and the unused
    remainder of vouchers that expired (their yearly cap less what they paid in their
    expiry year)."""

    sector: str
    issued: int
    issued_caps: Decimal
    used: Decimal
    uses: int
    expired: int
    expired_unused: Decimal


def voucher_report(
    vouchers: Sequence[Voucher],
    uses: Sequence[VoucherUse],
    sectors: Mapping[str, str],
    now: datetime,
) -> list[VoucherReportRow]:
    paid: dict[VoucherId, Decimal] = {}
    paid_in_expiry_year: dict[VoucherId, Decimal] = {}
    count: dict[VoucherId, int] = {}
    # The year of its last usable instant: `expires_at` is exclusive, so a voucher that
    # runs to midnight on 1 January lapses in the year before.
    expiry_year = {v.id: (v.expires_at - timedelta(microseconds=1)).year for v in vouchers}
    for u in uses:
        paid[u.voucher_id] = paid.get(u.voucher_id, Decimal(0)) + u.amount
        count[u.voucher_id] = count.get(u.voucher_id, 0) + 1
        if u.at.year == expiry_year.get(u.voucher_id):
            paid_in_expiry_year[u.voucher_id] = (
                paid_in_expiry_year.get(u.voucher_id, Decimal(0)) + u.amount
            )
    rows: dict[str, list[Decimal | int]] = {}
    for v in vouchers:
        sector = sectors.get(v.tenant_id, "other")
        row = rows.setdefault(sector, [0, Decimal(0), Decimal(0), 0, 0, Decimal(0)])
        row[0] = int(row[0]) + 1
        row[1] = Decimal(row[1]) + v.cap_per_year
        row[2] = Decimal(row[2]) + paid.get(v.id, Decimal(0))
        row[3] = int(row[3]) + count.get(v.id, 0)
        if v.expires_at <= now:
            row[4] = int(row[4]) + 1
            row[5] = Decimal(row[5]) + max(
                Decimal(0), v.cap_per_year - paid_in_expiry_year.get(v.id, Decimal(0))
            )
    return [
        VoucherReportRow(
            s, int(r[0]), Decimal(r[1]), Decimal(r[2]), int(r[3]), int(r[4]), Decimal(r[5])
        )
        for s, r in sorted(rows.items())
    ]
