"""One place that maps errors to RFC 9457 problem documents (application/problem+json).

Domain errors keep their message, field and hint; request-validation errors name the
field; anything unexpected is a 500 with no traceback in the body (it goes to the log,
once) and leaves the client's keep-alive connection usable. The OpenAPI document describes
every problem response (`PROBLEM_RESPONSES`, the `Problem` schema).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)

log = logging.getLogger("suanli.api")
PROBLEM = "application/problem+json"

_STATUS: list[tuple[type[DomainError], int, str]] = [
    (InvalidInput, 422, "invalid-input"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (RateLimited, 429, "rate-limited"),
]
# Kinds of the errors Starlette raises itself (unknown route, wrong method, body limit).
_HTTP_KINDS = {404: "not-found", 405: "method-not-allowed", 413: "content-too-large"}


class ProblemItem(BaseModel):
    """One problem of an invalid request."""

    field: str = Field(description="The offending input, e.g. `cpus` or `nodes.0.hostname`.")
    message: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An RFC 9457 problem document: every error answer of the API has this shape."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="The kind of problem, in words.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What is wrong and what to do about it.")
    field: str | None = Field(None, description="The offending input, where one is to blame.")
    hint: str | None = Field(None, description="What to do next.")
    errors: list[ProblemItem] | None = Field(
        None, description="Every problem found in an invalid request (422)."
    )


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# The problem answers, each described once under components/responses (by that name).
_PROBLEM_COMPONENTS: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "Unauthenticated",
        _problem_response("No valid bearer token: send 'Authorization: Bearer <token>'."),
    ),
    403: (
        "Forbidden",
        _problem_response(
            "The token's role may not do this (e.g. an agent route with another token), or "
            "the resource belongs to another provider."
        ),
    ),
    404: (
        "NotFound",
        _problem_response(
            "A resource the request names does not exist or is not visible to the caller."
        ),
    ),
    409: (
        "Conflict",
        _problem_response(
            "The request clashes with the current state (e.g. it exists already, or the job "
            "has finished)."
        ),
    ),
    413: (
        "ContentTooLarge",
        _problem_response("The request body is larger than the route's limit (named in detail)."),
    ),
    422: (
        "InvalidInput",
        _problem_response(
            "Invalid input: `field` names it and `errors` lists every problem found."
        ),
    ),
    429: (
        "RateLimited",
        {
            **_problem_response(
                "Too many requests with this token: wait for the Retry-After header's seconds."
            ),
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        },
    ),
    500: (
        "InternalError",
        _problem_response(
            "The server failed unexpectedly; nothing was changed. The operator's log has "
            "the details."
        ),
    ),
}

# The problem answers any /v1 route may give, for `APIRouter(responses=...)`. Shared by
# all routes (not listed per route) because each one passes through authentication, role
# checks, the body limit and rate limiting, and names resources that may not exist or
# may clash with the current state; a client handles them all the same way: read
# `status`, `detail` and `field`.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    # The description again: in OpenAPI 3.1 a reference's own description overrides the
    # component's, and FastAPI would otherwise give each one the bare status text.
    status: {"$ref": f"#/components/responses/{name}", "description": response["description"]}
    for status, (name, response) in _PROBLEM_COMPONENTS.items()
}


def problem(
    status: int,
    kind: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem document response; `extra` members that are empty are left out."""
    body = {
        "type": f"https://suanli.dev/problems/{kind}",
        "title": kind.replace("-", " "),
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v},
    }
    all_headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    all_headers.update(headers or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=all_headers)


def internal_error() -> JSONResponse:
    """The 500 answer: it says nothing of the cause, which is in the operator's log."""
    return problem(
        500,
        "internal-error",
        "The server failed unexpectedly; nothing was changed by this request. "
        "The operator's log has the details.",
    )


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


class UnexpectedErrors:
    """Pure ASGI middleware, installed outermost (just inside Starlette's
    ServerErrorMiddleware): an exception no handler turned into a response is logged once
    and answered with the 500 problem document, and is NOT re-raised.

    Why: ServerErrorMiddleware sends its 500 and then re-raises (so servers can log it);
    uvicorn, seeing an exception after the response started, closes the connection, so
    the client's next request on that keep-alive connection is reset. Swallowing the
    exception here keeps a 500 an ordinary response. When the response had already
    started, nothing honest can be sent any more: the middleware returns without finishing
    it, and the server closes the connection (as it must for a truncated response)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            # %r: a path may hold control characters that would forge log lines.
            log.exception("unhandled error on %s %r", scope.get("method"), scope.get("path"))
            if not started:
                await internal_error()(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the exception handlers, and the problem responses and `Problem` schema in
    the OpenAPI document. (The app adds `UnexpectedErrors` itself, after all its other
    middleware, so that it is the outermost.)"""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status, kind = next(
            ((s, k) for t, s, k in _STATUS if isinstance(exc, t)), (400, "bad-request")
        )
        headers = None
        if isinstance(exc, RateLimited):  # whole seconds (RFC 9110), never 0: no busy retry
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return problem(status, kind, str(exc), headers=headers, field=exc.field, hint=exc.hint)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            where = _location(tuple(err.get("loc", ())))
            msg = str(err.get("msg", "invalid"))
            if err.get("type") == "json_invalid":
                msg = "the body is not valid JSON"
                where = "body"
            errors.append({"field": where, "message": msg})
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}."
        if len(errors) > 1:
            detail += f" ({len(errors) - 1} more problem(s) listed in 'errors'.)"
        return problem(
            422,
            "invalid-input",
            detail + " To fix: correct the field and resend; the schema is at /openapi.json.",
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "error parsing the body", raised from what the body's decoding
            # raised (e.g. JSON that is not UTF-8): malformed JSON, as any other (422).
            return problem(
                422,
                "invalid-input",
                "body: the body is not valid JSON (JSON is UTF-8 text). To fix: send a "
                "JSON document encoded as UTF-8.",
                field="body",
            )
        kind = _HTTP_KINDS.get(exc.status_code, "http-error")
        return problem(exc.status_code, kind, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only when UnexpectedErrors itself fails (it handles everything else).
        log.exception("unhandled error on %s %r", request.method, request.url.path)
        return internal_error()

    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    """Add the problem responses and the `Problem` schema, which PROBLEM_RESPONSES refer
    to, to the components of the app's OpenAPI document (FastAPI registers only models
    named by `response_model` or `model`, and `model` would document the problems as
    application/json)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:  # generated (and completed) already
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem_schema.pop("$defs", {}))
        schemas["Problem"] = problem_schema
        responses = document["components"].setdefault("responses", {})
        responses.update(dict(_PROBLEM_COMPONENTS.values()))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
