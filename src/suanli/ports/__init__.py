"""Ports: the small interfaces the services depend on; adapters implement them."""
