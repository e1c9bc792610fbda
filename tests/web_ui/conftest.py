"""The live pages in a real browser: Chromium driven by Playwright against the app on a
loopback test server and the session's Redis, pages that fail the test on any script
error, and a folder of screenshots that CI keeps."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from blockbuster import blockbuster_ctx
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    WebSocket,
    async_playwright,
)

from callcenter.app import create_app
from callcenter.settings import Settings
from callcenter.web.state import SERVICES
from tests.conftest import FIXTURES, AppClient

ALERT_RULES = FIXTURES / "rules" / "alerts"
VIEWPORT = ViewportSize(width=1600, height=1000)
AiohttpClient = Callable[..., Awaitable[AppClient]]


def chromium_path() -> str | None:
    """CALLCENTER_CHROMIUM, else the distribution's chromium."""
    given = os.environ.get("CALLCENTER_CHROMIUM")
    if given:
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


SCREENSHOTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """$CALLCENTER_ARTIFACTS/screenshots, else artifacts/screenshots under pytest's tmp;
    named in the terminal summary."""
    root = os.environ.get("CALLCENTER_ARTIFACTS")
    base = Path(root) if root else tmp_path_factory.getbasetemp() / "artifacts"
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    request.config.stash[SCREENSHOTS] = folder
    return folder


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    folder = config.stash.get(SCREENSHOTS, None)
    if folder is not None:
        terminalreporter.write_line(f"live page screenshots: {folder}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, one per test (a few hundred milliseconds to start)."""
    executable = chromium_path()
    if executable is None:
        # a failure, not a skip: the pages are untested without a browser
        pytest.fail("no Chromium: install the chromium package or set CALLCENTER_CHROMIUM")
    # Chromium's sandbox cannot start as root (CI containers); elsewhere it stays on
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=args, headless=True
        )
        yield launched
        await launched.close()


class Pages:
    """Opens pages (one browser context each, so each has its own sessionStorage),
    records script errors and every URL requested, and saves screenshots."""

    def __init__(self, browser: Browser, folder: Path, test_name: str) -> None:
        self.browser = browser
        self.folder = folder
        self.prefix = test_name.removeprefix("test_")
        self.errors: list[str] = []
        self.requested: list[str] = []
        self.contexts: list[BrowserContext] = []

    async def open(
        self,
        client: AppClient,
        path: str,
        token: str | None = None,
        *,
        on_socket: Callable[[WebSocket], None] | None = None,
    ) -> Page:
        """The page at `path`; the token, if any, goes in the URL fragment. `on_socket`
        sees each websocket the page opens."""
        context = await self.browser.new_context(viewport=VIEWPORT)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{path}: {error}"))
        page.on("request", lambda request: self.requested.append(request.url))
        if on_socket is not None:
            page.on("websocket", on_socket)
        url = str(client.make_url(path))
        await page.goto(f"{url}#token={token}" if token else url)
        return page

    async def shot(self, page: Page, name: str) -> Path:
        target = self.folder / f"{self.prefix}-{name}.png"
        await page.screenshot(path=str(target), full_page=True)
        return target

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def pages(
    browser: Browser, screenshots: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Pages]:
    """Pages for this test; a script error on any of them fails it."""
    opened = Pages(browser, screenshots, request.node.name)
    yield opened
    await opened.close()
    assert opened.errors == []


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    """The test settings with alert rules (anyone may take any call)."""
    return dataclasses.replace(settings, rules_dir=ALERT_RULES)


@pytest.fixture
async def live(
    aiohttp_client: AiohttpClient, live_settings: Settings, redis_client: aioredis.Redis
) -> AsyncIterator[AppClient]:
    """The app on a loopback port Chromium can reach; blocking calls fail the test."""
    started = await aiohttp_client(create_app(live_settings))
    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield started


@pytest.fixture
async def two_instances(
    aiohttp_client: AiohttpClient, live_settings: Settings, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[AppClient, AppClient]]:
    """Two instances of the app on the same Redis, each on its own loopback port."""
    one = await aiohttp_client(create_app(live_settings))
    other = await aiohttp_client(create_app(live_settings))
    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield one, other


async def issue_token(client: AppClient, role: str) -> str:
    token, _ = await client.app[SERVICES].auth.create_token(role, "browser test")
    return token
