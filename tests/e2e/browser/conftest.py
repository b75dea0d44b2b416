"""Fixtures of the browser tests: a real `suanli up` (tests/e2e/harness.py) and Debian's
headless Chromium driven by Playwright through `executable_path`. Nothing downloads a
browser: without /usr/bin/chromium (scripts/test.sh installs Debian's package) the tests
fail, they never skip.

Screenshots of the key pages go to $SUANLI_ARTEFACTS (default `build/artefacts`) under
screenshots/; `docs/screenshots/` holds copies from a run."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.cli import new_token, ok
from tests.e2e.harness import Server, shutdown

CHROMIUM_ENV = "SUANLI_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# The flags a sandboxed CI machine needs: no setuid sandbox as root, no GPU, and none of
# Chromium's own background connections (this machine's network is closed to them).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[3]
HISTORY_PERIOD_S = 2


def chromium_path() -> str:
    path = os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM)
    if not Path(path).is_file():
        pytest.fail(
            f"no Chromium at {path}: install Debian's package (`apt-get install chromium`; "
            f"scripts/test.sh does) or point {CHROMIUM_ENV} at one"
        )
    return path


def artefacts() -> Path:
    out = Path(os.environ.get("SUANLI_ARTEFACTS", ROOT / "build" / "artefacts")) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def screenshot(page: Page, name: str, *, docs: bool = False) -> Path:
    """Save a full-page screenshot as a test artefact (and, with `docs`, refresh its copy
    in docs/screenshots when SUANLI_UPDATE_SCREENSHOTS=1)."""
    path = artefacts() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("SUANLI_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.name)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A running `suanli up` per module that samples the pool's use every 2 s (rather
    than each minute), so the utilisation charts have points within a test."""
    srv = Server(tmp_path_factory.mktemp("suanli-browser"))
    try:
        srv.start("--history-period", str(HISTORY_PERIOD_S))
        srv.wait_ready()
        yield srv
    finally:
        shutdown(srv)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    found = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies, no storage) per test, in English unless the
    test switches."""
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def login(page: Page, srv: Server, token: str) -> None:
    """Open the dashboard and log in with `token` through the form."""
    page.goto(f"{srv.url}/")
    page.wait_for_selector("body[data-ready='login']")
    page.fill("#token", token)
    page.click("#login-button")
    page.wait_for_selector("#logout")


def operator_token(srv: Server) -> str:
    """The operator token `suanli up` wrote to the config."""
    return str(json.loads(srv.config_path.read_text())["operator_token"])


def consumer(srv: Server, tenant: str, user: str, *, sector: str = "research") -> str:
    """A tenant (with a CPU quota and funds) and a consumer of it; returns its token."""
    ok(srv, None, "tenant", "add", tenant, "--sector", sector, "--size", "small")
    ok(srv, None, "user", "add", user, "--tenant", tenant, "--role", "consumer")
    ok(srv, None, "ledger", "deposit", tenant, "1000.00", "--reference", f"dep-{tenant}")
    return new_token(srv, user)
