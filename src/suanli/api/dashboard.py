"""Serving the web dashboard: the page and its assets, bundled in the package
(`suanli/web/static`: no CDN, no build step), under /ui/, with `/` sending browsers there.

The page is a static single-page application that calls the /v1 API with the session
cookie (api/web_session.py). Its responses carry a strict Content-Security-Policy: scripts,
styles and connections from this origin only, so an injected string cannot run."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_PATH = "/ui"
STATIC_PACKAGE = "suanli.web"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
UI_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # the page is small: always revalidate, so an upgrade is seen at once (ETag: 304)
    (b"cache-control", b"no-cache"),
)


class UiHeaders:
    """Add the dashboard's security headers to every response under /ui/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(UI_PATH):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *UI_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def static_dir() -> str:
    """The folder of the bundled page and assets."""
    return str(resources.files(STATIC_PACKAGE) / "static")


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at /ui/ and send `/` there."""
    app.mount(UI_PATH, StaticFiles(directory=static_dir(), html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/")

    app.add_middleware(UiHeaders)
