"""The viewer in a real browser: headless Chromium (Debian's package) driven by Playwright, clicking
runs -> episode -> comparison. Skipped where Playwright or /usr/bin/chromium is missing."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("playwright")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)

from aiohttp import web  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from palaestra.viewer import create_app  # noqa: E402
from test_viewer import EVIL_EPISODE, EVIL_RUN, LONG_EPISODE, LONG_STEPS, PAYLOAD, Built, build_store  # noqa: E402

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


class Server:
    """The viewer on 127.0.0.1, any free port, on its own event loop in a daemon thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ready = threading.Event()
        self.url = ""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # surfaced by start()
            self.error = e
            self.ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        runner = web.AppRunner(create_app(self.path), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        self.ready.set()
        await self.stop.wait()
        await runner.cleanup()

    def start(self) -> Server:
        self.thread.start()
        self.ready.wait(30)
        if self.error is not None:
            raise self.error
        return self

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # built on a thread of its own: Playwright's sync API may already run a loop on this one
    path = tmp_path_factory.mktemp("viewer-e2e") / "palaestra.db"
    built: list[Built] = []
    worker = threading.Thread(target=lambda: built.append(build_store(path)))
    worker.start()
    worker.join(120)
    assert built, "building the store failed"
    return built[0]


@pytest.fixture(scope="module")
def base(store: Built) -> Iterator[str]:
    server = Server(store.path).start()
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; any JavaScript error, console error or dialog fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type == "error" and "status of 404" not in m.text  # an API 404 the page reports itself
            else None
        ),
    )
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def on_dialog(d: Any) -> None:
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    pg.on("dialog", on_dialog)
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
    assert not problems, problems


def test_runs_then_run_then_episode(page: Page, base: str, store: Built) -> None:
    page.goto(base)
    runs = page.locator("#runs")
    for rid in (store.expert, store.random, store.many):
        expect(runs).to_contain_text(rid)
    page.locator(f'tr[data-run="{store.expert}"] a.run-link').click()

    expect(page.locator("h2")).to_contain_text(f"Run {store.expert}")
    expect(page.locator("#count")).to_have_text("8 matching episodes")
    expect(page.locator("#episodes a.episode-link")).to_have_count(8)

    page.select_option("#f-env", "maze")
    expect(page).to_have_url(re.compile(r"env=maze"))
    links = page.locator("#episodes a.episode-link")
    expect(links).to_have_count(4)
    assert all(t.startswith("maze/") for t in links.all_text_contents())
    page.select_option("#f-success", "0")
    expect(page.locator("#episodes")).to_have_count(0)
    expect(page.locator("p.empty")).to_contain_text("No episodes match")
    page.select_option("#f-success", "1")
    expect(links).to_have_count(4)

    first = links.first.text_content()
    assert first
    links.first.click()
    expect(page.locator("#episode-id")).to_have_text(first)
    expect(page.locator(".step").first).to_contain_text("Step 0")
    expect(page.locator(".msg.role-system").first).to_contain_text("You are in a maze")
    expect(page.locator(".msg.role-user").first).to_contain_text("Find the goal G")
    expect(page.locator(".act .call-name").first).to_have_text("move")
    expect(page.locator(".msg.role-tool").first).to_be_visible()
    expect(page.locator(".step-head .badge.progress").first).to_contain_text("progress")
    expect(page.locator("dl.meta")).to_contain_text("✓ yes")
    expect(page.locator(".step.final")).to_contain_text("You solved the maze")

    page.reload()  # the hash is a deep link
    expect(page.locator("#episode-id")).to_have_text(first)
    page.go_back()
    expect(page.locator("#f-env")).to_have_value("maze")
    expect(page.locator("#f-success")).to_have_value("1")


def test_compare_two_runs_then_one_task(page: Page, base: str, store: Built) -> None:
    page.goto(base)
    expect(page.locator("#compare-btn")).to_be_disabled()
    page.locator(f'tr[data-run="{store.expert}"] input.pick-a').check()
    page.locator(f'tr[data-run="{store.random}"] input.pick-b').check()
    page.click("#compare-btn")

    table = page.locator("#compare")
    expect(table.locator("tbody tr")).to_have_count(8)
    expect(page.locator(".run-card.side-a")).to_contain_text(store.expert)
    expect(page.locator(".run-card.side-b")).to_contain_text(store.random)
    expect(table.locator("tbody tr").first.locator("td").nth(2)).to_have_text("1/1")

    task = table.locator("a.task-link").first.text_content()
    assert task
    table.locator("a.task-link").first.click()
    side_a, side_b = page.locator("#side-a"), page.locator("#side-b")
    expect(side_a).to_contain_text(store.expert)
    expect(side_b).to_contain_text(store.random)
    expect(side_a.locator("h3")).to_contain_text(task)
    expect(side_b.locator("h3")).to_contain_text(task)
    expect(side_a.locator("dl.meta")).to_contain_text("✓ yes")
    expect(side_a.locator(".step").first).to_contain_text("Step 0")
    expect(side_b.locator(".step").first).to_contain_text("Step 0")

    page.reload()
    expect(page.locator("#side-b h3")).to_contain_text(task)
    page.go_back()
    expect(page.locator("#compare tbody tr")).to_have_count(8)
    page.check("#f-differ")
    expect(page).to_have_url(re.compile(r"differ=1"))
    expect(page.locator("#compare tbody tr, p.empty").first).to_be_visible()


def test_pages_of_episodes(page: Page, base: str, store: Built) -> None:
    page.goto(f"{base}#/run/{store.many}")
    rows = page.locator("#episodes a.episode-link")
    expect(rows).to_have_count(50)
    expect(page.locator("#count")).to_have_text("60 matching episodes")
    last_of_first = rows.nth(49).text_content()
    page.click("nav.pager a.next")
    expect(rows).to_have_count(10)
    assert (rows.first.text_content() or "") > (last_of_first or "")
    page.click("nav.pager a.prev")
    expect(rows).to_have_count(50)
    expect(rows.nth(49)).to_have_text(last_of_first or "")


def test_hostile_text_is_shown_as_text(page: Page, base: str) -> None:
    page.goto(f"{base}#/episode/{quote(EVIL_RUN, safe='')}/{quote(EVIL_EPISODE, safe='')}")
    expect(page.locator("#episode-id")).to_have_text(EVIL_EPISODE)
    expect(page.locator(".msg.role-system").first).to_contain_text(PAYLOAD)
    expect(page.locator(".msg.role-user").first).to_contain_text("<b>hi</b>")
    expect(page.locator(".act .call-name")).to_have_text("<img src=x onerror=window.__xss=3>")
    expect(page.locator(".step.final")).to_contain_text(PAYLOAD)
    assert page.locator("main img, main script, main iframe, main svg, main b, main u, main i").count() == 0
    assert page.evaluate("window.__xss") is None

    page.goto(base)
    expect(page.locator("#runs")).to_contain_text(EVIL_RUN)
    page.locator("#runs tr", has_text=EVIL_RUN).locator("a.run-link").click()
    expect(page.locator("#episodes a.episode-link")).to_have_count(2)
    page.locator("#episodes a.episode-link", has_text=EVIL_EPISODE).click()
    expect(page.locator("#episode-id")).to_have_text(EVIL_EPISODE)
    assert page.evaluate("window.__xss") is None


def test_unknown_pages_say_so(page: Page, base: str) -> None:
    page.goto(f"{base}#/run/no-such-run")
    expect(page.locator("[role=alert]")).to_contain_text("no run 'no-such-run'")


def test_long_episode_loads_more_steps(page: Page, base: str) -> None:
    page.goto(f"{base}#/episode/{quote(EVIL_RUN, safe='')}/{quote(LONG_EPISODE, safe='')}")
    steps = page.locator(".steps .step")
    expect(steps).to_have_count(100)
    more = page.locator("button.more", has_text="load more steps")
    expect(more).to_contain_text(f"100 of {LONG_STEPS}")
    more.click()
    expect(steps).to_have_count(LONG_STEPS)
    expect(steps.last).to_contain_text(f"reply {LONG_STEPS - 1}")
    expect(more).to_have_count(0)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A viewer over a store holding one MCTS episode: (url, run id, episode id)."""
    from palaestra import RunConfig, Store, run

    path = tmp_path_factory.mktemp("viewer-search") / "palaestra.db"
    ids: list[str] = []

    def build() -> None:
        st = Store(path)
        opts = {"inner": "noisy", "simulations": 4, "k": 2}
        ids.append(
            asyncio.run(
                run(RunConfig(envs=["maze"], agent="mcts", agent_options=opts, tasks=1, max_steps=3), st)
            )
        )
        ids.append(st.episodes(ids[0])[0]["id"])
        st.close()

    worker = threading.Thread(target=build)
    worker.start()
    worker.join(120)
    assert ids, "building the store failed"
    server = Server(path).start()
    yield server.url, ids[0], ids[1]
    server.close()


def test_a_search_step_shows_its_tree(page: Page, searched: tuple[str, str, str]) -> None:
    url, run_id, episode_id = searched
    page.goto(f"{url}#/episode/{quote(run_id, safe='')}/{quote(episode_id, safe='')}")
    trace = page.locator(".step details.trace.search").first
    expect(trace.locator("summary").first).to_contain_text("search tree · mcts")
    trace.locator("summary").first.click()
    root = trace.locator("ul.tree.root > li.tree-node")
    expect(root).to_contain_text("root (real state)")
    expect(root.locator(".badge.visits").first).to_have_text("visits 4")
    expect(trace.locator("li.tree-node.chosen .badge.chosen")).to_have_count(1)
    expect(trace.locator("li.tree-node .node-action").first).to_contain_text("move(")
