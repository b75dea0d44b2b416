"""What a request must be before any route sees it: a body no larger than the route's
limit, and a URL whose percent-decoded path and query are text.

Both are pure ASGI middleware (no per-request Starlette objects) and answer with the
problem documents of `suanli.api.errors`: 413 `content-too-large`, 422 `invalid-input`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli.api.errors import problem
from suanli.domain.errors import InvalidInput

MiB = 1024 * 1024
MAX_BODY_ENV = "SUANLI_MAX_BODY_BYTES"
MAX_LOG_BODY_ENV = "SUANLI_MAX_LOG_BODY_BYTES"
# POST /v1/agent/jobs/{job_id}/attempts/{attempt}/logs/{stream}: raw log bytes.
_AGENT_LOG = re.compile(r"/v1/agent/jobs/[^/]+/attempts/[^/]+/logs/[^/]+")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The largest request body accepted, in bytes: `agent_logs` for the agent's log
    upload (the route itself takes chunks of up to 4 MiB; agents send 256 KiB), `default`
    for every other route (the largest JSON document the API takes is far smaller)."""

    default: int = 1 * MiB
    agent_logs: int = 5 * MiB

    def __post_init__(self) -> None:
        if self.default < 0 or self.agent_logs < 0:
            raise InvalidInput("A body limit cannot be negative.", field="body_limits")

    def for_request(self, method: str, path: str) -> int:
        """The limit for a request to `path` (the percent-decoded path)."""
        if method == "POST" and _AGENT_LOG.fullmatch(path):
            return self.agent_logs
        return self.default

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BodyLimits:
        """Limits from SUANLI_MAX_BODY_BYTES and SUANLI_MAX_LOG_BODY_BYTES (whole bytes);
        an unset variable keeps the default."""
        env = os.environ if env is None else env
        default = cls()
        return cls(
            default=_bytes_from(env, MAX_BODY_ENV, default.default),
            agent_logs=_bytes_from(env, MAX_LOG_BODY_ENV, default.agent_logs),
        )


def _bytes_from(env: Mapping[str, str], name: str, fallback: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return fallback
    if not raw.isascii() or not raw.isdigit():
        raise InvalidInput(
            f"{name}={raw!r} is not a whole number of bytes.",
            field=name,
            hint=f"set it to e.g. {fallback}, or unset it for the default.",
        )
    return int(raw)


def _size(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _too_large_detail(limit: int) -> str:
    return (
        f"The request body is larger than this route's limit of {_size(limit)} "
        f"({limit} bytes). To fix: send a smaller body (agents: smaller log chunks)."
    )


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes its limit. An HTTPException so
    that FastAPI's body reading lets it through to the 413 handler (errors.py) instead
    of turning it into a 400 'error parsing the body'."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_detail(limit))


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server rejects such a request before it gets here
                return None
    return None


class BodyLimit:
    """Refuse request bodies over the route's limit with 413: at once when Content-Length
    declares too much (the app is not called), else while a chunked body streams in (the
    byte that passes the limit raises BodyTooLarge in whoever reads it). Nothing beyond
    the limit is ever buffered."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_request(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            # Reached when no exception handler answered it (the body was read outside a
            # route); after the response started there is nothing left to say.
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> ASGIApp:
    return problem(413, "content-too-large", _too_large_detail(limit))


def _text(raw: bytes) -> bool:
    """Whether percent-decoded `raw` is UTF-8 text without NUL (which no id, name or
    filter may hold, and which PostgreSQL text cannot store)."""
    try:
        decoded = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in decoded


def _bad_url_part(scope: Scope) -> str | None:
    """'path' or the name of the first query parameter that is not text, else None."""
    path: str = scope["path"]
    raw_path = scope.get("raw_path")
    try:
        path.encode("utf-8")  # a lone surrogate, from a server that passes one through
    except UnicodeEncodeError:
        return "path"
    if "\x00" in path or (isinstance(raw_path, bytes) and not _text(raw_path)):
        return "path"
    for pair in bytes(scope.get("query_string", b"")).split(b"&"):
        name, _, value = pair.replace(b"+", b" ").partition(b"=")
        if not (_text(name) and _text(value)):
            return unquote_to_bytes(name).decode("utf-8", "replace") or "query"
    return None


class TextUrl:
    """Answer 422 when the URL's path or a query parameter, percent-decoded, is not UTF-8
    text or holds NUL. Servers replace undecodable bytes with U+FFFD, so such input would
    otherwise reach the routes as ids and filters that can never match; and a NUL reaching
    PostgreSQL is a server error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = _bad_url_part(scope) if scope["type"] == "http" else None
        if where is None:
            await self.app(scope, receive, send)
            return
        answer = problem(
            422,
            "invalid-input",
            f"{where}: the URL's {'path' if where == 'path' else 'query parameter'} is not "
            "UTF-8 text once percent-decoded (or holds NUL). To fix: percent-encode the "
            "UTF-8 bytes of the text.",
            field=where,
        )
        await answer(scope, receive, send)
