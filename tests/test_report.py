"""`palaestra report`: one self-contained HTML page of runs, built from real runs in a real store."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from clitools import stderr_lines
from palaestra import RunConfig, Store, StoreError, UsageError, run
from palaestra.eval.metrics import run_metrics
from palaestra.models.mock import MockModel
from palaestra.report import build_report, write_report
from palaestra.report.episodes import MAX_CHARS, MAX_TURNS, episode_view, pick_examples
from palaestra.store.rows import EpisodeDetail

PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]
PLANTED = "<script>alert(1)</script>"
EVIL_MODEL = 'mock:<b onmouseover="x">$\\alpha$ & co'


class Page(HTMLParser):
    """Every start tag with its attributes, every id, and whether the parser choked."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: Counter[str] = Counter()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids[str(a["id"])] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    p.close()
    return p


def _runs(db: Path) -> dict[str, str]:
    async def go() -> dict[str, str]:
        st = Store(db)
        ids = {
            "expert": await run(RunConfig(envs=["guess", "maze"], agent="expert", tasks=4), st),
            "random": await run(RunConfig(envs=["guess", "maze"], agent="random", tasks=4, max_steps=12), st),
        }
        mock = MockModel([PLANTED, {"tool": "guess", "arguments": {"number": 3}}], cycle=True)
        cfg = RunConfig(envs=["guess"], agent="tools", model=EVIL_MODEL, tasks=2, max_steps=4)
        ids["mock"] = await run(cfg, st, model=mock)
        st.close()
        return ids

    return asyncio.run(go())


@pytest.fixture(scope="module")
def store_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    db = tmp_path_factory.mktemp("report") / "s.db"
    return db, _runs(db)


def assert_self_contained(html: str) -> Page:
    page = parse(html)
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:", "file:")), (tag, name, value)
        assert tag not in ("link", "img", "iframe", "object", "embed", "base"), tag
        if tag == "script":
            assert "src" not in attrs
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html), "a stylesheet fetches something"
    assert "@import" not in html
    # every in-page link has its target
    targets = [str(a["href"])[1:] for _, a in page.tags if str(a.get("href") or "").startswith("#")]
    assert targets and all(t in page.ids for t in targets), set(targets) - set(page.ids)
    assert not [i for i, n in page.ids.items() if n > 1], "duplicate ids"
    return page


def test_report_of_two_runs(store_runs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = store_runs
    st = Store(db)
    out = tmp_path / "report.html"
    res = write_report(st, [ids["expert"], ids["random"]], out)
    html = out.read_text("utf-8")
    page = assert_self_contained(html)
    assert (
        res.runs == [ids["expert"], ids["random"]] and res.episodes == 16 and res.bytes == len(html.encode())
    )

    board = html[html.index('id="leaderboard"') : html.index('id="per-env"')]
    assert ids["expert"] in board and ids["random"] in board
    assert "100.0%" in board  # the expert solves everything
    # a plot per section: per-env bars, difficulty, taxonomy; no model was called, so no usage plot
    assert html.count("<svg") == 3 and "No tokens were recorded" in html
    for section in ("per-env", "difficulty", "taxonomy"):
        part = html[html.index(f'<section id="{section}"') :]
        assert part.index("<svg") < part.index("</section>")

    # the failure taxonomy: every category that occurred is named, with the same counts as `stats`
    m = run_metrics(st, ids["random"])
    outcomes = m["overall"]["outcomes"]
    tax = html[html.index('<section id="taxonomy"') : html.index('<section id="runs"')]
    for category in outcomes:
        assert category.replace("_", " ") in tax
    assert sum(outcomes.values()) == 8

    # example episodes: best and worst per env and run, each with its turns and its show command
    episodes = [a for t, a in page.tags if t == "details" and "episode" in str(a.get("class"))]
    assert len(episodes) >= 2 * 2 * 2
    assert f"palaestra show {ids['random']} --episode guess/" in html
    assert "palaestra view --store" in html
    assert html.count('class="turn') > len(episodes)
    # each failure category that occurred links to an example of it
    for category in outcomes:
        if category != "success":
            assert re.search(rf'badge bad">{category.replace("_", " ")}</span>', html), category


def test_model_text_and_names_are_escaped(store_runs: tuple[Path, dict[str, str]]) -> None:
    db, ids = store_runs
    html, data = build_report(Store(db), [ids["mock"], ids["expert"]])
    assert_self_contained(html)
    assert PLANTED not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # the page's own (inline) script, nothing planted
    assert "<b onmouseover" not in html and "&lt;b onmouseover" in html
    assert data.runs[0].label == f"tools/{EVIL_MODEL}"
    # a model was called: the usage plot is drawn, with the mock's tokens
    assert html.count("<svg") == 4 and "tokens per episode" in html


def test_examples_per_env_option_and_last(store_runs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = store_runs
    none, data = build_report(Store(db), [ids["random"]], episodes_per_env=0)
    assert 'class="episode"' not in none and data.examples == 0
    assert_self_contained(none)
    more, data = build_report(Store(db), [ids["random"]], episodes_per_env=5)
    assert data.examples >= 8 and more.count('<details class="episode"') == data.examples
    with pytest.raises(UsageError, match="--episodes-per-env"):
        build_report(Store(db), [ids["random"]], episodes_per_env=-1)


def test_missing_run_is_the_stores_error(store_runs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = store_runs
    with pytest.raises(StoreError, match="no run 'nope'"):
        write_report(Store(db), [ids["expert"], "nope"], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_cli_writes_the_report(store_runs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = store_runs
    out = tmp_path / "cli.html"
    r = subprocess.run(
        [
            *PALAESTRA,
            "report",
            ids["expert"],
            "last",
            "-o",
            str(out),
            "--store",
            str(db),
            "--episodes-per-env",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and "2 runs" in r.stdout
    html = out.read_text("utf-8")
    assert_self_contained(html)
    assert ids["expert"] in html and ids["mock"] in html  # `last` is the mock run

    r = subprocess.run(
        [*PALAESTRA, "report", "nope", "-o", str(tmp_path / "x.html"), "--store", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = stderr_lines(r.stderr)
    assert r.returncode == 2 and len(lines) == 1 and "no run 'nope'" in lines[0], r.stderr
    assert not (tmp_path / "x.html").exists()


def test_multi_agent_runs_are_left_out_with_a_note(tmp_path: Path) -> None:
    from palaestra.runner.tournament import MatchConfig, run_matches

    async def go() -> tuple[str, str]:
        st = Store(tmp_path / "s.db")
        match = await run_matches(MatchConfig(game="matrix-pd", tasks=1), st)
        single = await run(RunConfig(envs=["guess"], agent="expert", tasks=2), st)
        return match, single

    match, single = asyncio.run(go())
    st = Store(tmp_path / "s.db")
    html, data = build_report(st, [match, single])
    assert [r.id for r in data.runs] == [single] and len(data.skipped) == 1
    assert f"run {match} is a match of the multi-agent game matrix-pd" in html
    with pytest.raises(UsageError, match="no single-agent run to report"):
        build_report(st, [match])


def _row(i: int, success: bool, reward: float, progress: float, steps: int) -> dict[str, Any]:
    return {"id": f"e{i}", "success": success, "reward": reward, "progress": progress, "steps": steps}


def test_best_and_worst_are_picked_once() -> None:
    rows = [
        _row(0, True, 1.0, 1.0, 9),
        _row(1, True, 1.0, 1.0, 3),  # best: solved in the fewest steps
        _row(2, False, 0.0, 0.5, 10),
        _row(3, False, 0.0, 0.1, 10),  # worst: least progress
    ]
    assert [(p, r["id"]) for p, r in pick_examples(rows, 2)] == [("best", "e1"), ("worst", "e3")]
    assert [r["id"] for _, r in pick_examples(rows, 3)] == ["e1", "e0", "e3"]
    assert len(pick_examples(rows, 10)) == 4 and pick_examples(rows, 0) == []
    assert pick_examples(rows[:1], 2) == [("best", rows[0])]


def test_long_episodes_and_messages_are_shortened() -> None:
    step = {
        "index": 0,
        "observation": [{"role": "user", "content": "x" * (MAX_CHARS + 10)}],
        "action": {"role": "assistant", "tool_calls": [{"id": "c", "name": "f", "arguments": {"a": 1}}]},
        "reward": 0.0,
        "info": {"invalid_action": False},
        "tools": [{"name": "f"}],
    }
    ep = EpisodeDetail.from_dict(
        {
            "id": "env/t/0",
            "steps": [{**step, "index": i} for i in range(MAX_TURNS + 7)],
            "final": [],
            "task": {"params": {"n": 1}},
            "error": None,
        }
    )
    v = episode_view(ep, run_id="r", run_index=1, pick="best", diagnosis={"category": "loop"})
    assert len(v.head) + len(v.tail) == MAX_TURNS and v.omitted == 7
    assert v.tail[-1].index == MAX_TURNS + 6
    msg = v.head[0].observation[0]
    assert len(msg.content) == MAX_CHARS and msg.cut == 10
    assert v.head[0].action.calls[0].name == "f" and v.head[0].action.calls[0].arguments == "a=1"
    assert v.tools == ["f"] and v.anchor.startswith("ep-1-env-t-0-")


def test_error_episodes_and_runs_without_episodes(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    st.create_run("empty", {"envs": ["guess"], "agent": "expert"})
    model = MockModel([RuntimeError("server exploded <now>")], cycle=True)
    rid = asyncio.run(run(RunConfig(envs=["guess"], agent="tools", model="mock", tasks=2), st, model=model))
    html, data = build_report(st, ["empty", rid])
    assert_self_contained(html)
    assert [r.metrics["overall"]["episodes"] for r in data.runs] == [0, 2]
    assert 'badge bad">model error</span>' in html
    assert '<pre class="error">' in html and "server exploded &lt;now&gt;" in html
    with pytest.raises(UsageError, match="no finished episodes"):
        build_report(st, ["empty"])


def test_missing_matplotlib_is_a_one_line_hint(
    store_runs: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    db, _ = store_runs
    code = (
        "import sys; sys.modules['matplotlib'] = None; from palaestra.cli import main; "
        f"sys.argv = ['palaestra', 'report', 'last', '--store', {str(db)!r}, '-o', {str(tmp_path / 'r.html')!r}]; "
        "main()"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = stderr_lines(r.stderr)
    assert r.returncode == 2 and len(lines) == 1 and "pip install 'palaestra[report]'" in lines[0], r.stderr


def test_runs_that_searched_get_success_against_budget(tmp_path: Path) -> None:
    """mcts runs at two budgets make one group (same other options) with the noisy runs of the same
    epsilon as its baseline; a report without search runs has no such section."""
    from palaestra.report.data import collect, search_groups

    st = Store(tmp_path / "s.db")

    async def go() -> dict[str, str]:
        base = {"envs": ["maze", "crafting"], "tasks": 2, "max_steps": 10}
        noisy = {"inner": "noisy", "epsilon": 0.6}
        return {
            "noisy": await run(RunConfig(agent="noisy", agent_options={"epsilon": 0.6}, **base), st),
            "other": await run(RunConfig(agent="noisy", agent_options={"epsilon": 0.1}, **base), st),
            "m2": await run(RunConfig(agent="mcts", agent_options={**noisy, "simulations": 2}, **base), st),
            "m4": await run(RunConfig(agent="mcts", agent_options={**noisy, "simulations": 4}, **base), st),
        }

    ids = asyncio.run(go())
    data = collect(st, list(ids.values()), episodes_per_env=0)
    (group,) = search_groups(data.runs)
    assert group.budget == "simulations" and [b for b, _ in group.points] == [2.0, 4.0]
    assert [r.id for _, r in group.points] == [ids["m2"], ids["m4"]]
    assert [r.id for r in group.baselines] == [ids["noisy"]]
    assert "epsilon=0.6" in group.label and "inner=noisy" in group.label
    html, _ = build_report(st, list(ids.values()), episodes_per_env=0)
    section = html[html.index('id="search-budget"') :]
    assert "Success vs search budget" in section and "<svg" in section[:20000]
    assert "noisy (" in section and "(no search)" in section
    plain, _ = build_report(st, [ids["noisy"]], episodes_per_env=0)
    assert 'id="search-budget"' not in plain and "#search-budget" not in plain
