"""Use cases: each public method is one transaction over the store port."""
