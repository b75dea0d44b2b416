"""One place that maps errors to RFC 9457 problem documents (application/problem+json).

Domain errors keep their message, field and hint; request-validation errors name the
field; anything unexpected is a 500 with no traceback in the body (it goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from suanli.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
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
]


def problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://suanli.dev/problems/{kind}",
        "title": kind.replace("-", " "),
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v},
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status, kind = next(
            ((s, k) for t, s, k in _STATUS if isinstance(exc, t)), (400, "bad-request")
        )
        return problem(status, kind, str(exc), field=exc.field, hint=exc.hint)

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
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "internal-error",
            "The server failed unexpectedly; nothing was changed by this request. "
            "The operator's log has the details.",
        )
