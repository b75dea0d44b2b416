"""suanli (算力): an open platform for a city-scale compute-power network.

Layers, imports flowing one way (see docs/architecture.md):
domain <- logic <- ports <- services <- shells (api, cli, agent); adapters implement ports.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what `from suanli import Client` gives a type checker
    from suanli.sdk import ApiError as ApiError
    from suanli.sdk import AsyncClient as AsyncClient
    from suanli.sdk import Client as Client
    from suanli.sdk import WaitTimeout as WaitTimeout

_SDK = ("ApiError", "AsyncClient", "Client", "WaitTimeout")


def __getattr__(name: str) -> object:
    """`suanli.Client` and the rest of the SDK, imported on first use (so that importing
    the package, as every command does, stays cheap)."""
    if name in _SDK:
        from suanli import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'suanli' has no attribute {name!r}")
