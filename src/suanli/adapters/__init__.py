"""Adapters: the real (and simulated) things behind the ports."""
