"""Billing for the exchange: posted prices, charges and escrow holds, ledger postings,
vouchers and statements. Pure functions over domain objects: no I/O, no clock (every
time is passed in). See docs/exchange.md, "Prices, escrow, settlement and vouchers".
"""
