"""Pure billing rules: charges and holds, ledger postings, posted prices, vouchers and
statements (docs/exchange.md)."""
