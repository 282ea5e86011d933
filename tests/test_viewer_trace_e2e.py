"""A strategy's trace (a jury's votes, who said what) is shown with its step in the viewer, in a
real browser (skipped, as the other viewer e2e tests are, without Playwright or Chromium)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect, sync_playwright

from palaestra import RunConfig, Store, run
from palaestra.models.mock import MockModel
from test_viewer_e2e import ARGS, CHROMIUM, Server


def _jury_run(path: Path) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        store = Store(path)
        config = RunConfig(envs=["guess"], agent="jury", model="mock", tasks=1, max_steps=2)
        model = MockModel([{"tool": "guess", "arguments": {"number": n}} for n in (1, 2, 2, 3, 3, 3)])
        run_id = await run(config, store, model=model)
        return run_id, store.episodes(run_id)[0]["id"]

    out: list[tuple[str, str]] = []
    worker = threading.Thread(target=lambda: out.append(asyncio.run(go())))  # Playwright may own this loop
    worker.start()
    worker.join(60)
    assert out, "the jury run failed"
    return out[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    run_id, episode_id = _jury_run(tmp_path / "s.db")
    srv = Server(tmp_path / "s.db").start()
    yield srv.url, run_id, episode_id
    srv.close()


def test_a_step_shows_its_strategy_trace(server: tuple[str, str, str]) -> None:
    base, run_id, episode_id = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}#/episode/{quote(run_id, safe='')}/{quote(episode_id, safe='')}")
            trace = page.locator(".steps .step").first.locator("details.trace")
            expect(trace).to_contain_text("strategy trace (members, votes, tie, chosen)")
            trace.locator("summary").click()
            expect(trace.locator("pre")).to_contain_text('"votes"')
        finally:
            browser.close()
