"""A small Python SDK over the HTTP API (httpx). The CLI and agents use only this.
docs/sdk.md documents it; `suanli.Client` and `suanli.AsyncClient` are the same classes."""

from suanli.sdk.async_client import AsyncClient
from suanli.sdk.client import ApiError, Client, WaitTimeout

__all__ = ["ApiError", "AsyncClient", "Client", "WaitTimeout"]
