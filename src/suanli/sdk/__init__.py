"""A small Python SDK over the HTTP API (httpx). The CLI and agents use only this."""

from suanli.sdk.client import ApiError, Client

__all__ = ["ApiError", "Client"]
