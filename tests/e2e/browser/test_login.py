"""Logging in and out of the dashboard; the session cookie and CSRF rules."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.browser.conftest import login, operator_token, screenshot
from tests.e2e.harness import Server


def test_login_shows_the_pool_and_logout_ends_the_session(server: Server, page: Page) -> None:
    token = operator_token(server)
    login(page, server, token)
    page.wait_for_selector("#clusters tr[data-cluster='local']")
    screenshot(page, "pool", docs=True)
    assert "operator" in page.inner_text("#who")
    page.click("#logout")
    page.wait_for_selector("#login-form")
