"""Browser fixtures for the web pages (shopweb), through the gateway of the session's
`full_stack`: Playwright driving Debian's chromium (Playwright's own browser download
needs a CDN; scripts/test installs chromium), pages at desktop and phone sizes, the real
development sign-in, axe-core's accessibility check, and the README's screenshots.

Registered in conftest.py, which names each of them.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from shoptools.web import axe_core

from .harness import ROOT, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in containers
    "--disable-gpu",
    # Nothing leaves the machine: no update checks, component downloads or sync.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--headless",
]
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=375, height=740)
TIMEOUT_MS = 20_000  # a loaded machine is slower, never wrong
SCREENSHOTS = ROOT / "docs" / "screenshots"  # the README shows them
SCREENSHOT_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
BLOCKING_IMPACTS = ("serious", "critical")
TOKEN_COOKIE = "shop_token"  # shopweb.session.COOKIE

# Each phase's report (setup, call, teardown), for fixtures that act on a failure.
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


class SignIn(Protocol):
    def __call__(
        self, page: Page, name: str, role: str = "customer", next_path: str = "/shop/"
    ) -> None: ...


class CheckAccessibility(Protocol):
    def __call__(self, page: Page) -> None: ...


class Screenshot(Protocol):
    def __call__(self, page: Page, name: str) -> Path: ...


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def web_url(full_stack: Stack) -> str:
    """The gateway's base URL (no trailing slash): /shop/, /console/, /signin and the REST
    API share this origin."""
    return full_stack.gateway


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(
    browser: Browser, web_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Page]:
    """A fresh context (no cookies) at desktop size; relative URLs go to `web_url`."""
    yield from _open_page(browser, web_url, request, tmp_path, viewport=DESKTOP)


@pytest.fixture
def phone_page(
    browser: Browser, web_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Page]:
    """Like `page`, at a phone's size, with touch."""
    yield from _open_page(
        browser, web_url, request, tmp_path, viewport=PHONE, is_mobile=True, has_touch=True
    )


def _open_page(
    browser: Browser,
    web_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    **options: Any,
) -> Iterator[Page]:
    context = browser.new_context(base_url=web_url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    opened = context.new_page()
    # What a visitor would not see but must not happen: a script that failed, or anything
    # the pages' Content-Security-Policy refused (an inline script, another site's file).
    broken: list[str] = []
    opened.on("pageerror", lambda error: broken.append(f"script error: {error}"))
    opened.on(
        "console",
        lambda message: (
            broken.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        yield opened
        call = request.node.stash.get(PHASE_REPORTS, {}).get("call")
        if call is not None and call.failed and not opened.is_closed():
            opened.screenshot(path=tmp_path / "failure.png", full_page=True)
    finally:
        context.close()
    assert not broken, "\n".join(broken)


def sign_in_as(page: Page, name: str, role: str = "customer", next_path: str = "/shop/") -> None:
    """Through the real development sign-in form: name, role, submit; returns on
    `next_path`, signed in (the token cookie set in the page's context)."""
    page.goto(f"/signin?next={quote(next_path)}")
    form = page.locator("form[action='/signin']")
    form.get_by_label("Name", exact=True).fill(name)
    form.locator(f"input[type='radio'][name='role'][value='{role}']").check()
    form.get_by_role("button").click()
    wanted = urlsplit(next_path).path
    page.wait_for_url(lambda url: urlsplit(url).path == wanted)
    cookies = {c.get("name") for c in page.context.cookies()}
    assert TOKEN_COOKIE in cookies, f"signed in as {name} ({role}) but no {TOKEN_COOKIE} cookie"


def assert_accessible(page: Page) -> None:
    """axe-core's rules over the page as it is now; fails listing every serious or
    critical violation. Injected with evaluate, which the page's Content-Security-Policy
    does not govern (a script tag would be refused, rightly)."""
    page.evaluate(axe_core().read_text())
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.html.slice(0, 160)}`),
            }));
        }"""
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    lines = [
        f"- {v['id']} ({v['impact']}): {v['help']}\n" + "\n".join(f"    {n}" for n in v["nodes"])
        for v in blocking
    ]
    assert not blocking, (
        f"{page.url}: {len(blocking)} serious or critical accessibility violations:\n"
        + "\n".join(lines)
    )


def save_screenshot(page: Page, name: str) -> Path:
    """docs/screenshots/<name>.png, the whole page; the README shows these."""
    assert SCREENSHOT_NAME.match(name), f"screenshot names are lowercase-with-hyphens: {name}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path


@pytest.fixture
def sign_in() -> SignIn:
    return sign_in_as


@pytest.fixture
def check_accessibility() -> CheckAccessibility:
    return assert_accessible


@pytest.fixture
def screenshot() -> Screenshot:
    return save_screenshot
