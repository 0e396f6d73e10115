"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright)
against a real running Berth: a uvicorn API process, Celery worker, events watcher
and Docker. Screenshots land in tests/artifacts/ (gitignored)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import wait_state
from tests.fixtures.stack import ADMIN_TOKEN, BerthProcess, Stack

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("rollouts")]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LIVE = 60_000  # ms: how long a live update may take to show (provisioning included)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM)
        yield b
        await b.close()


@pytest.fixture(scope="module")
async def fleet(client: httpx.AsyncClient, worker: BerthProcess, _beat: BerthProcess) -> list[str]:
    """Three running tenants (the first small enough to OOM quickly)."""
    prefix = "ui" + uuid.uuid4().hex[:6]
    slugs = [f"{prefix}-{n}" for n in ("alpha", "beta", "gamma")]
    for slug in slugs:
        r = await client.post("/tenants", json={"slug": slug, "limits": {"memory_mb": 48}})
        assert r.status_code == 202, r.text
    for slug in slugs:
        await wait_state(client, slug, "running")
    return slugs


@pytest.fixture
async def page(
    browser: Browser, api_server: str, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=api_server, viewport={"width": 1366, "height": 768}
    )
    p = await context.new_page()
    yield p
    ARTIFACTS.mkdir(exist_ok=True)
    await p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    await context.close()


async def sign_in(page: Page, key: str = ADMIN_TOKEN) -> None:
    await page.goto("/dashboard")
    await expect(page).to_have_url(re.compile(r"/dashboard/login$"))
    await page.fill("#key", key)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/dashboard$"))


async def confirm(page: Page) -> None:
    dialog = page.locator("#confirm")
    await expect(dialog).to_be_visible()
    await page.click("#confirm-ok")


def row(page: Page, slug: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#tenants tr[data-slug="{slug}"]')


async def test_sign_in_shows_three_tenants_with_their_states(page: Page, fleet: list[str]) -> None:
    await page.goto("/dashboard/login")
    await page.fill("#key", "berth_not_a_real_key")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_have_text("That API key is not valid.")

    await sign_in(page)
    for slug in fleet:
        await expect(row(page, slug).locator("td.state")).to_have_text("running")
        await expect(row(page, slug)).to_contain_text("standard")
    # The session cookie is HttpOnly, Secure and SameSite=Strict, and is not the key.
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == "berth_session"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert ADMIN_TOKEN not in cookie["value"]
    assert "berth_session" not in await page.evaluate("document.cookie")

    # Measured memory (the usage sampler on beat) shows once sampled.
    memory = row(page, fleet[0]).locator("td:nth-child(6)")
    deadline = time.monotonic() + 45
    while (await memory.inner_text()).startswith("–") and time.monotonic() < deadline:
        await page.wait_for_timeout(500)
        await page.reload()
    await expect(memory).to_have_text(re.compile(r"^\d+ MiB / 48 MiB$"))

    # Filtering and sorting happen in the page.
    await page.fill("#filter", fleet[1])
    await expect(page.locator("#tenants tbody tr:visible")).to_have_count(1)
    await expect(page.locator("#shown")).to_contain_text("1 of")
    await page.fill("#filter", "")
    await page.click('th button[data-sort="slug"]')
    await expect(page.locator("th[aria-sort=descending]")).to_have_text("Tenant")


async def test_actions_need_the_csrf_token(page: Page, fleet: list[str]) -> None:
    await sign_in(page)
    status = await page.evaluate(
        f"fetch('/dashboard/tenants/{fleet[2]}/pause', {{method: 'POST'}}).then(r => r.status)"
    )
    assert status == 403


async def test_rollout_progress_bar_reaches_100_percent(page: Page, fleet: list[str]) -> None:
    await sign_in(page)
    await page.select_option("#rollout-version-select", "2")
    # Only this module's tenants: others in the stack belong to other tests.
    await page.fill("#rollout-slugs", ", ".join(fleet))
    await page.click("#rollout-form button[type=submit]")
    await confirm(page)
    await expect(page.locator("#result")).to_contain_text("rollout of version 2 to 3 tenants")
    await expect(page.locator("#rollout-text")).to_contain_text("(100%)", timeout=180_000)
    await expect(page.locator("#rollout-state")).to_have_text("completed")
    bar = page.locator("#rollout-progress")
    assert await bar.evaluate("b => b.value === b.max && b.max > 0")
    await page.reload()
    for slug in fleet:
        await expect(row(page, slug).locator("td:nth-child(3)")).to_have_text("2")


async def test_oom_incident_appears_without_reload(
    page: Page,
    fleet: list[str],
    watcher: BerthProcess,
    stack: Stack,
    dock: docker.DockerClient,
) -> None:
    await sign_in(page)
    await expect(page.locator("#live")).to_have_text("live")
    await page.evaluate("window.__sameDocument = true")
    labels = [f"berth.instance={stack.instance}", f"berth.tenant={fleet[0]}"]
    (container,) = dock.containers.list(filters={"label": labels})
    container.exec_run(["kill", "-USR1", "1"])  # PID 1 allocates until the OOM killer ends it
    item = page.locator("#incident-feed li", has_text=fleet[0]).filter(has_text="oom")
    await expect(item.first).to_be_visible(timeout=LIVE)
    await expect(page.locator("#incidents-empty")).to_be_hidden()
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"


async def test_pause_and_resume_from_the_page(page: Page, fleet: list[str]) -> None:
    slug = fleet[1]
    await sign_in(page)
    await page.click(f'#tenants a[href="/dashboard/tenants/{slug}"]')
    await expect(page.locator("h1")).to_have_text(slug)
    await expect(page.locator("#events-loading")).to_be_hidden()
    await expect(page.locator("#events li").first).to_be_visible()

    # Cancelling the confirmation does nothing.
    await page.click('[data-action="pause"]')
    await page.click("#confirm-cancel")
    await expect(page.locator("#result")).to_have_text("pause cancelled.")

    await page.click('[data-action="pause"]')
    await confirm(page)
    await expect(page.locator("#result")).to_contain_text(f"pause of {slug} accepted")
    await expect(page.locator("#tenant-state")).to_have_text("paused", timeout=LIVE)
    await expect(page.locator('#events li[data-kind="paused"]')).to_be_visible()

    await page.click('[data-action="resume"]')
    await confirm(page)
    await expect(page.locator("#result")).to_contain_text(f"resume of {slug} accepted")
    await expect(page.locator("#tenant-state")).to_have_text("running", timeout=LIVE)
    await expect(page.locator('#events li[data-kind="woken"]')).to_be_visible()
