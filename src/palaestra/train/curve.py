"""The learning curve of a training loop: held-out success against optimiser steps, as an SVG file
drawn with the report's plotting helpers (matplotlib, no GUI backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def curve_series(points: Sequence[Any]) -> dict[str, list[tuple[int, float]]]:
    """``{env: [(step, success), ...]}`` and ``"mean"`` over the environments, from curve points
    (objects or dicts with ``step``, ``success`` per env and ``mean``)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for p in points:
        d = p if isinstance(p, Mapping) else p.model_dump()
        for env, value in d["success"].items():
            series.setdefault(env, []).append((int(d["step"]), float(value)))
        if len(d["success"]) > 1:
            series.setdefault("mean", []).append((int(d["step"]), float(d["mean"])))
    return series


def write_curve(
    points: Sequence[Any],
    path: Path,
    *,
    title: str = "",
    xlabel: str = "optimiser step",
    baselines: Mapping[str, float] | None = None,
) -> Path:
    """Draw ``points`` (one line per environment, and their mean with several) to ``path`` (SVG);
    ``baselines`` (e.g. ``{"random": 0.25, "expert": 1.0}``) are dashed horizontal lines."""
    from palaestra.report.plots import _figure, _pct_axis, _svg, _text

    series = curve_series(points)
    with _figure(6.0, 3.4) as fig:
        ax = fig.add_subplot()
        for name, values in series.items():
            steps, success = zip(*values, strict=True) if values else ((), ())
            style = {"linewidth": 2.2, "color": "black"} if name == "mean" else {"linewidth": 1.4}
            ax.plot(steps, success, marker="o", markersize=3, label=_text(name), **style)
        for name, value in (baselines or {}).items():
            ax.axhline(value, linestyle="--", linewidth=1, color="grey")
            ax.annotate(_text(name), (0, value), xycoords=("axes fraction", "data"), fontsize=8, va="bottom")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out success")
        ax.set_ylim(-0.02, 1.02)
        _pct_axis(ax)
        if title:
            ax.set_title(_text(title))
        if series:
            ax.legend(loc="best")
        svg = _svg(fig)
    path.write_text(svg, encoding="utf-8")
    return path
