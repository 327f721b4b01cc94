"""Debian's Chromium driven by Playwright, as the dashboard tests use it
(test_dashboard*.py): the module-scoped ``browser`` fixture (sync API), pages that record
console errors, page errors and requests leaving the machine (and refuse the latter),
the async page of tests that run the API in process, and the screenshot checks.

Screenshots go to ``test-artifacts/`` (:data:`ARTIFACTS`, made by :func:`screenshot`).
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.streams.harness import REPO

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"


def _chromium_present() -> None:
    assert os.access(CHROMIUM, os.X_OK), \
        f"{CHROMIUM} is missing: `make services-deps` installs Debian's chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium (headless, no background networking) for the module's tests."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (the test extras)")
    _chromium_present()
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watched:
    page: Any
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


def is_local(url: str) -> bool:
    """Whether ``url`` stays on this machine (loopback, or data:/blob:/about:)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and \
        parts.hostname in ("127.0.0.1", "localhost")


@contextlib.contextmanager
def watched_page(browser: Any, width: int = 1600, height: int = 1000,
                 locale: str = "en-GB") -> Iterator[Watched]:
    """A page (time zone Asia/Almaty, the browser preferring ``locale``) whose console
    errors, page errors and off-machine requests are recorded; requests leaving the
    machine are refused."""
    ctx = browser.new_context(viewport={"width": width, "height": height},
                              timezone_id="Asia/Almaty", locale=locale)
    page = ctx.new_page()
    w = Watched(page)

    def route(r: Any) -> None:
        if is_local(r.request.url):
            r.continue_()
        else:
            r.abort()  # and recorded by the request listener

    page.route("**/*", route)
    page.on("request", lambda req: None if is_local(req.url) else w.outside.append(req.url))
    page.on("console", lambda m: w.errors.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: w.errors.append(f"pageerror: {e}"))
    try:
        yield w
    finally:
        ctx.close()


@contextlib.asynccontextmanager
async def async_page(locale: str, width: int = 1600, height: int = 1000
                     ) -> AsyncIterator[tuple[Any, list[str]]]:
    """A page of Chromium through Playwright's async API (for tests whose API runs in this
    process's event loop), time zone UTC: (the page, its page errors as recorded)."""
    async_api = pytest.importorskip("playwright.async_api",
                                    reason="pip install playwright (the test extras)")
    _chromium_present()
    async with async_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox"])
        try:
            ctx = await b.new_context(viewport={"width": width, "height": height},
                                      locale=locale, timezone_id="UTC")
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            await b.close()


def assert_png(path: Path, min_width: int) -> None:
    """``path`` is a PNG at least ``min_width`` wide and 600 high, and not blank-small."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= min_width and height >= 600, (width, height)
    assert len(data) > 40_000, f"suspiciously small screenshot ({len(data)} bytes)"


def screenshot(page: Any, name: str, min_width: int, *, full_page: bool = False) -> Path:
    """``test-artifacts/<name>`` of ``page``, checked with :func:`assert_png`."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=full_page)
    assert_png(shot, min_width)
    return shot


def digits(s: str) -> str:
    """The digits of ``s`` (a number as the page formats it, with its separators)."""
    return re.sub(r"\D", "", s)
