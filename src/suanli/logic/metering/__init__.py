"""Metering: turning attempts into usage records."""
