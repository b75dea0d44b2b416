"""A small Python SDK over the HTTP API (httpx). The CLI and agents use only this.
docs/sdk.md documents it; `suanli.Client` and `suanli.AsyncClient` are the same classes."""

from typing import TYPE_CHECKING

from suanli.sdk.client import ApiError, Client, WaitTimeout

if TYPE_CHECKING:  # what type checkers see; at run time, __getattr__ below
    from suanli.sdk.async_client import AsyncClient

__all__ = ["ApiError", "AsyncClient", "Client", "WaitTimeout"]


def __getattr__(name: str) -> object:
    """`AsyncClient`, imported on first use: asyncio costs every CLI command otherwise."""
    if name == "AsyncClient":
        from suanli.sdk.async_client import AsyncClient

        return AsyncClient
    raise AttributeError(f"module 'suanli.sdk' has no attribute {name!r}")
