"""The dashboard in headless Chromium against a real `suanli up` (local engine): a consumer
submits a job from the page and watches it run and end, reads its logs, cancels another,
sees the sector chart grow; the language switch is remembered; a consumer cannot open
another tenant's job; each role sees only its pages; the session cookie is out of the
page's reach and a change without the CSRF token is refused."""

from __future__ import annotations

import json
import time

from playwright.sync_api import Browser, FilePayload, Page, expect

from tests.e2e.browser.conftest import consumer, login, operator_token, screenshot
from tests.e2e.cli import js, new_token, ok, wait_status
from tests.e2e.harness import Server

RUN_TIMEOUT_MS = 60_000


def test_a_consumer_submits_from_the_page_and_watches_it_run_and_succeed(
    server: Server, page: Page
) -> None:
    token = consumer(server, "acme", "ann", sector="industry")
    login(page, server, token)
    page.click("nav a[data-page='submit']")
    page.fill("input[name='name']", "ui-train")
    page.fill("input[name='command']", "echo hello-from-the-page; sleep 3; echo done-$((6*7))")
    page.select_option("select[name='sector']", "education")
    screenshot(page, "submit", docs=True)
    page.click("#submit-button")
    page.wait_for_url("**/#/jobs/*")
    expect(page.locator(".job-head .badge")).to_have_text("Running", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#logs")).to_contain_text("hello-from-the-page", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(".job-head .badge")).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#logs")).to_contain_text("done-42", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#events")).to_contain_text("Running")
    job_id = page.url.rsplit("/", 1)[-1]
    job = js(server, token, "job", job_id)
    assert (job["name"], job["status"], job["sector"]) == ("ui-train", "SUCCEEDED", "education")
    assert float(page.get_attribute("#job-sch", "data-value") or -1) >= 0
    screenshot(page, "job", docs=True)


def test_a_consumer_cancels_a_running_job_from_the_queue(server: Server, page: Page) -> None:
    token = consumer(server, "beta", "bea")
    job_id = ok(server, token, "submit", "--name", "long", "--", "sleep", "300").strip()
    wait_status(server, token, job_id, "RUNNING")
    login(page, server, token)
    page.goto(f"{server.url}/ui/#/queue?tab=running")
    row = page.locator(f"tr[data-job='{job_id}']")
    expect(row).to_contain_text("long")
    screenshot(page, "queue", docs=True)
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-cancel]").click()
    assert wait_status(server, token, job_id, "CANCELLED")["status"] == "CANCELLED"
    page.goto(f"{server.url}/ui/#/queue?tab=recent")
    expect(page.locator(f"tr[data-job='{job_id}'] .badge")).to_have_text("Cancelled")


def test_the_sector_chart_updates_when_a_job_is_metered(server: Server, page: Page) -> None:
    token = consumer(server, "farm", "fay", sector="agriculture")
    login(page, server, token)
    page.goto(f"{server.url}/ui/#/sectors")
    page.wait_for_selector("#sector-total")
    assert page.locator("tr[data-sector='Agriculture']").count() == 0
    job_id = ok(
        server, token, "submit", "--sector", "agriculture", "--", "sh", "-c", "sleep 1"
    ).strip()
    wait_status(server, token, job_id, "SUCCEEDED")
    # the page refreshes itself: no reload
    expect(page.locator("tr[data-sector='Agriculture']")).to_be_visible(timeout=20_000)
    expect(page.locator("svg rect[data-series='Agriculture']")).to_have_count(1)
    assert float(page.get_attribute("#sector-total", "data-total") or 0) > 0
    screenshot(page, "sectors", docs=True)


def test_the_language_switch_is_remembered(server: Server, page: Page) -> None:
    login(page, server, operator_token(server))
    expect(page.locator("nav a[data-page='pool']")).to_have_text("Pool")
    page.click("#lang")
    expect(page.locator("nav a[data-page='pool']")).to_have_text("资源池")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.reload()
    expect(page.locator("nav a[data-page='pool']")).to_have_text("资源池")
    page.wait_for_selector("#clusters")
    screenshot(page, "pool-zh", docs=True)
    page.click("#lang")
    expect(page.locator("nav a[data-page='pool']")).to_have_text("Pool")


def test_a_consumer_cannot_open_another_tenants_job(server: Server, page: Page) -> None:
    owner = consumer(server, "gamma", "gus")
    other = consumer(server, "delta", "dot")
    job_id = ok(server, owner, "submit", "--name", "gamma-secret", "--", "true").strip()
    login(page, server, other)
    page.goto(f"{server.url}/ui/#/jobs/{job_id}")
    expect(page.locator("h1")).to_have_text("Not found")
    assert "gamma-secret" not in page.content()
    status = page.evaluate("async id => (await fetch(`/v1/jobs/${id}/logs`)).status", job_id)
    assert status == 404
    page.goto(f"{server.url}/ui/#/queue?tab=all")
    page.wait_for_selector("#jobs")
    assert page.locator(f"tr[data-job='{job_id}']").count() == 0


def test_the_cookie_is_out_of_reach_and_changes_need_the_csrf_token(
    server: Server, page: Page
) -> None:
    token = consumer(server, "eps", "eve")
    login(page, server, token)
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "suanli_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert session["value"] != token  # the typed token is not what the browser keeps
    assert "suanli_session" not in page.evaluate("document.cookie")
    body = json.dumps({"command": ["true"], "name": "forged"})
    forged = page.evaluate(
        """async body => {
            const r = await fetch('/v1/jobs', {method: 'POST', body,
              headers: {'Content-Type': 'application/json'}});
            return [r.status, (await r.json()).detail];
        }""",
        body,
    )
    assert forged[0] == 403 and "CSRF" in forged[1]
    assert "forged" not in ok(server, token, "jobs")
    # logging out revokes the session's token: the old cookie no longer works
    page.click("#logout")
    page.wait_for_selector("#login-form")
    page.context.add_cookies(
        [
            {
                "name": session["name"],
                "value": session["value"],
                "domain": session["domain"],
                "path": session["path"],
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )
    assert page.evaluate("async () => (await fetch('/v1/jobs')).status") == 401


def test_each_role_sees_only_its_pages(server: Server, browser: Browser) -> None:
    ok(server, None, "user", "add", "aud", "--role", "auditor")
    ok(server, None, "provider", "add", "prov")
    ok(server, None, "user", "add", "pat", "--provider", "prov", "--role", "provider")
    roles = {
        "auditor": (new_token(server, "aud"), {"pool", "queue", "sectors", "money"}, "submit"),
        "provider": (new_token(server, "pat"), {"pool", "utilisation", "market", "money"}, "queue"),
        "operator": (operator_token(server), {"pool", "queue", "lab", "money"}, "nothing"),
    }
    for role, (token, visible, hidden) in roles.items():
        ctx = browser.new_context(locale="en-GB")
        page = ctx.new_page()
        login(page, server, token)
        shown = set(page.locator("nav a").evaluate_all("els => els.map(e => e.dataset.page)"))
        assert visible <= shown, (role, shown)
        assert hidden not in shown, (role, shown)
        if hidden != "nothing":
            page.goto(f"{server.url}/ui/#/{hidden}")
            expect(page.locator("#forbidden")).to_be_visible()
        ctx.close()


def test_money_and_market_pages_show_the_tenants_balance_and_vouchers(
    server: Server, page: Page
) -> None:
    token = consumer(server, "zeta", "zed", sector="industry")
    ok(
        server,
        None,
        "voucher",
        "issue",
        "zeta",
        "--share",
        "0.3",
        "--cap-invoice",
        "50",
        "--cap-year",
        "500",
        "--expires",
        time.strftime("%Y-%m-%d", time.gmtime(time.time() + 90 * 86400)),
    )
    login(page, server, token)
    page.goto(f"{server.url}/ui/#/money")
    expect(page.locator("#balance dd[data-field='cash']")).to_have_text("¥ 1000.00")
    expect(page.locator("#vouchers tbody tr")).to_have_count(1)
    expect(page.locator("#vouchers")).to_contain_text("30%")
    screenshot(page, "money", docs=True)
    page.goto(f"{server.url}/ui/#/market")
    page.wait_for_selector("#book")
    screenshot(page, "market", docs=True)


def test_the_pages_fit_a_phone(server: Server, browser: Browser) -> None:
    ctx = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    login(page, server, operator_token(server))
    page.wait_for_selector("#clusters")
    for target in ("pool", "queue", "utilisation", "sectors"):
        page.goto(f"{server.url}/ui/#/{target}")
        page.wait_for_selector(f"body[data-ready='#/{target}']")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 392, (target, width)
    expect(page.locator("nav a[data-page='pool']")).to_have_text("资源池")
    screenshot(page, "phone-sectors", docs=True)
    ctx.close()


def test_the_utilisation_page_draws_the_pool_and_queue_over_time(
    server: Server, page: Page
) -> None:
    # the platform samples on start and then once a minute: the first sample is there
    login(page, server, operator_token(server))
    page.goto(f"{server.url}/ui/#/utilisation?hours=6")
    page.wait_for_selector("body[data-ready='#/utilisation?hours=6']")
    history = page.evaluate("async () => (await fetch('/v1/pool/history?hours=6')).json()")
    regions = {s["region"] for s in history["pool"]}
    assert regions and history["queue"], history
    charts = page.locator("figure.chart")
    expect(charts).to_have_count(3)
    for region in regions:  # one CPU line per region, named after it
        expect(charts.nth(0).locator(f"path[data-series='{region} CPU']")).to_have_count(1)
    expect(charts.nth(1).locator("path[data-series='CPU']")).to_have_count(1)
    expect(charts.nth(2).locator("path[data-series='Pending']")).to_have_count(1)
    expect(page.locator("nav.tabs a.active")).to_have_text("6 hours")
    screenshot(page, "utilisation", docs=True)
    page.click("nav.tabs a[href='#/utilisation?hours=24']")
    page.wait_for_selector("body[data-ready='#/utilisation?hours=24']")
    expect(page.locator("nav.tabs a.active")).to_have_text("24 hours")


def test_the_policy_lab_runs_a_sample_trace_and_shows_its_report(
    server: Server, page: Page
) -> None:
    token = consumer(server, "lab", "lin")
    login(page, server, token)
    page.click("nav a[data-page='lab']")
    page.select_option("select[name='sample']", "philly-200")
    page.fill("input[name='policies']", "fifo,default")
    page.fill("input[name='jobs']", "40")
    page.click("#lab-run")
    row = page.locator("#lab-runs tbody tr").first
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)
    expect(row.locator("progress")).to_have_count(2)
    for bar in row.locator("progress").all():
        assert bar.get_attribute("value") == bar.get_attribute("max")
    row.locator("button[data-report]").click()
    frame = page.frame_locator("#lab-report iframe")
    expect(frame.locator("body")).to_contain_text("fifo", timeout=20_000)
    screenshot(page, "lab", docs=True)
    # a bad upload is refused with a message, and no run is added
    page.set_input_files(
        "input[name='file']",
        files=FilePayload(name="bad.csv", mimeType="text/csv", buffer=b"not,a\ntrace,at all\n"),
    )
    page.click("#lab-run")
    error = page.locator("#lab-message .error")
    expect(error).to_contain_text("bad.csv")
    expect(error.locator(".hint")).not_to_be_empty()
    expect(page.locator("#lab-runs tbody tr")).to_have_count(1)
