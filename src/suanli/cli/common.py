"""What every `suanli` subcommand shares: the client it talks through, and how it fails."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from suanli.cli import config, render

if TYPE_CHECKING:
    from suanli.sdk.client import Client

UrlOpt = Annotated[str | None, typer.Option("--url", help="API URL (or SUANLI_URL)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token (or SUANLI_TOKEN)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON on stdout")]


def fail(message: str, code: int = 1) -> NoReturn:
    render.err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def client(url: str | None, token: str | None) -> Client:
    from suanli.sdk.client import Client  # imported when a command talks to the API

    final_url, final_token = config.resolve(url, token)
    return Client(final_url, final_token)


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an SDK call; turn API errors into a clear message and exit code 1."""
    from suanli.sdk.client import ApiError

    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        hint = exc.problem.get("hint")
        extra = f" To fix: {hint}" if hint and hint not in exc.detail else ""
        fail(f"{exc.detail}{extra}")


def operator_client(url: str | None, token: str | None) -> Client:
    """A client with --token, SUANLI_TOKEN, or else the operator token `suanli up` saved."""
    saved = config.load()
    chosen = token or os.environ.get("SUANLI_TOKEN") or (saved.operator_token if saved else None)
    return client(url, chosen or None)
