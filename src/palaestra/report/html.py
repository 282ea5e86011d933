"""The HTML report: one self-contained file (inline CSS and SVG, no external resource).

The page is rendered from ``templates/report.html`` with Jinja2 and autoescaping on, so every string
from the store (task parameters, model outputs, errors) is escaped; only matplotlib's SVG output is
inserted as markup.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palaestra.errors import UsageError
from palaestra.eval.stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
from palaestra.eval.taxonomy import CATEGORIES
from palaestra.export.writer import check_overwrite
from palaestra.report import plots, simulation
from palaestra.report.data import ReportData, RunData, collect
from palaestra.report.episodes import MAX_CHARS, MAX_TURNS

if TYPE_CHECKING:
    from palaestra.store.sqlite import Store

CATEGORY_HELP: dict[str, str] = {
    "wrong_answer": "ended without success",
    "step_limit": "ran out of steps",
    "loop": "step limit or --stop-on-loop, repeating itself",
    "invalid_actions": "step limit, most actions invalid",
    "timeout": "wall-clock limit",
    "model_error": "a model call failed",
    "env_error": "the environment or agent raised",
}


INLINE_ENVS = 6
"""Up to this many environments get a column each in the leaderboard; more get a table of their own."""


@dataclass(frozen=True, slots=True)
class ReportResult:
    path: Path
    runs: list[str]
    skipped: list[str]
    episodes: int
    examples: int
    bytes: int
    seconds: float


def _jinja() -> Any:
    try:
        import jinja2
    except ImportError:
        raise UsageError(
            "the report needs jinja2; install it with: pip install 'palaestra[report]'"
        ) from None
    return jinja2


def _est(e: Mapping[str, Any] | None, pct: bool = True, digits: int = 2) -> Any:
    """A mean with its interval as markup: ``66.7% [33–100]`` or ``0.52 [0.31–0.77]``."""
    from markupsafe import Markup as markup

    if not e or e.get("mean") is None:
        return markup('<span class="muted">–</span>')
    value, (lo, hi) = float(e["mean"]), e["ci"]
    if pct:
        text = f"{value:.1%}"
        bounds = None if lo is None or hi is None or lo == hi else f"{lo * 100:.0f}–{hi * 100:.0f}"
    else:
        text = f"{value:.{digits}f}"
        bounds = None if lo is None or hi is None or lo == hi else f"{lo:.{digits}f}–{hi:.{digits}f}"
    if bounds is None:
        return markup.escape(text)
    return markup('{}<span class="ci">[{}]</span>').format(text, bounds)


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _when(ts: float | None) -> str:
    return "–" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _successes(run: RunData) -> int:
    return int(run.metrics["overall"].get("outcomes", {}).get("success", 0))


def _pass_ks(run: RunData) -> list[str]:
    return [k for k in run.metrics["overall"].get("pass_at_k", {}) if k != "1"]


def _ranked(runs: Sequence[RunData]) -> list[RunData]:
    def key(r: RunData) -> tuple[float, float]:
        o = r.metrics["overall"]
        s, p = o["success_rate"]["mean"], o["progress"]["mean"]
        return (-1.0 if s is None else s, -1.0 if p is None else p)

    return sorted(runs, key=key, reverse=True)


def _best(data: ReportData) -> dict[str, set[str]]:
    """Per leaderboard column, the runs with the highest mean (only when two or more runs have one)."""
    columns: dict[str, list[tuple[float, str]]] = {}
    for run in data.runs:
        for env, g in run.metrics["envs"].items():
            if g["success_rate"]["mean"] is not None:
                columns.setdefault(f"env:{env}", []).append((g["success_rate"]["mean"], run.id))
        o = run.metrics["overall"]
        for col, key in (("success", "success_rate"), ("progress", "progress"), ("reward", "reward")):
            if o[key]["mean"] is not None:
                columns.setdefault(col, []).append((o[key]["mean"], run.id))
    out = {}
    for col, values in columns.items():
        if len(values) >= 2:
            top = max(v for v, _ in values)
            out[col] = {rid for v, rid in values if v == top}
    return out


def render(data: ReportData, *, title: str | None = None) -> str:
    """The report page for collected data."""
    from palaestra import __version__

    jinja2 = _jinja()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    source = resources.files("palaestra.report").joinpath("templates/report.html").read_text("utf-8")
    template = env.from_string(source)
    from markupsafe import Markup as markup

    figures: dict[str, Any] = {
        "env_success": markup(plots.env_success(data)),
        "difficulty": markup(plots.difficulty_success(data)),
        "taxonomy": markup(plots.taxonomy(data)),
    }
    usage = plots.usage(data)
    figures["usage"] = markup(usage) if usage else None
    budget = plots.search_budget(data)
    figures["search_budget"] = markup(budget) if budget else None
    for name, draw in (("safety", plots.safety), ("safety_templates", plots.safety_templates)):
        figure = draw(data)
        figures[name] = markup(figure) if figure else None
    present = [
        c for c in CATEGORIES if any(r.metrics["overall"].get("outcomes", {}).get(c) for r in data.runs)
    ]
    if title is None:
        title = "Palaestra report: " + ", ".join(r.label for r in data.runs[:4])
        title += f" and {len(data.runs) - 4} more" if len(data.runs) > 4 else ""
    return str(
        template.render(
            title=title,
            data=data,
            ranked=_ranked(data.runs),
            best=_best(data),
            mixed_envs=len({tuple(r.envs) for r in data.runs if r.envs}) > 1,
            inline_envs=len(data.envs) <= INLINE_ENVS,
            plots=figures,
            categories=CATEGORIES,
            present_categories=present,
            category_colors=plots.CATEGORY_COLORS,
            category_help=CATEGORY_HELP,
            version=__version__,
            generated=time.strftime("%Y-%m-%d %H:%M"),
            max_chars=MAX_CHARS,
            max_turns=MAX_TURNS,
            est=_est,
            num=_num,
            pct=_pct,
            slug=_slug,
            when=_when,
            successes=_successes,
            pass_ks=_pass_ks,
        )
    )


def build_report(
    store: Store,
    run_ids: Sequence[str],
    *,
    episodes_per_env: int = 2,
    title: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[str, ReportData]:
    """The report of ``run_ids`` as HTML text, with the data it shows."""
    _jinja()
    plots._mpl()  # fail before reading anything when a dependency is missing
    data = collect(
        store,
        run_ids,
        episodes_per_env=episodes_per_env,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    return render(data, title=title), data


def write_report(
    store: Store,
    run_ids: Sequence[str],
    out: str | os.PathLike[str],
    *,
    episodes_per_env: int = 2,
    title: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    overwrite: bool = True,
) -> ReportResult:
    """Write the report of ``run_ids`` to ``out`` (atomically: a reader never sees half a file).
    With ``overwrite=False`` an existing ``out`` is refused (the CLI's default) before any work.
    Simulation runs (``palaestra sim``) alone get their time series (:mod:`.simulation`)."""
    started = time.perf_counter()
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory; name the report file, e.g. --out report.html")
    if not path.parent.exists():
        raise UsageError(f"the directory of --out {path} does not exist")
    check_overwrite(path, overwrite)
    if run_ids and all(simulation.is_sim(store.run(r)["config"]) for r in run_ids):
        sims = simulation.collect_sims(store, run_ids)
        raw = _write_atomic(path, simulation.render_sims(sims, str(store.path), title))
        episodes = sum(len(r.rounds) for r in sims)
        return ReportResult(path, [r.id for r in sims], [], episodes, 0, raw, time.perf_counter() - started)
    text, data = build_report(
        store,
        run_ids,
        episodes_per_env=episodes_per_env,
        title=title,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    return ReportResult(
        path=path,
        runs=[r.id for r in data.runs],
        skipped=data.skipped,
        episodes=data.episodes,
        examples=data.examples,
        bytes=_write_atomic(path, text),
        seconds=time.perf_counter() - started,
    )


def _write_atomic(path: Path, text: str) -> int:
    """Write ``text`` to ``path`` so that a reader never sees half a file; return the bytes written."""
    raw = text.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(raw)
