"""Export runs as training data: SFT conversations, DPO pairs, reward-model triplets, raw episodes.

``export(store, runs, "sft", "out.jsonl")`` writes rows in the formats TRL's trainers read; see
:mod:`palaestra.export.formats` for each format and :mod:`palaestra.export.writer` for the files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palaestra.chat import chat_message
from palaestra.errors import UsageError
from palaestra.eval.metrics import require_single_agent
from palaestra.export.conversation import conversation, tools_of
from palaestra.export.formats import (
    COLUMNS,
    FORMATS,
    Episode,
    dpo_row,
    pairings,
    raw_row,
    rm_row,
    search_dpo_rows,
    searched,
    sft_row,
)
from palaestra.export.writer import check_overwrite, file_format, write_rows

if TYPE_CHECKING:
    from palaestra.store.rows import EpisodeRow
    from palaestra.store.sqlite import Store

FILTERS = ("success", "failed", "all")
DPO_MODES = ("step", "trajectory")
FAILED_STATUSES = ("done", "truncated")
"""Episodes that count as the agent's failures in preference pairs: errors and timeouts say
nothing about the agent's choices, so they are never ``rejected``."""

__all__ = [
    "DPO_MODES",
    "FILTERS",
    "FORMATS",
    "ExportResult",
    "chat_message",
    "conversation",
    "export",
    "tools_of",
]


@dataclass(slots=True)
class ExportResult:
    path: Path
    format: str
    rows: int
    episodes: int
    """Episodes that matched the selection (for pairs: of tasks with both a success and a failure)."""
    note: str = ""


def _keep(row: EpisodeRow, filter: str) -> bool:
    if filter == "success":
        return bool(row.success)
    if filter == "failed":
        return not row.success
    return True


def _episodes(store: Store, run_id: str, rows: Sequence[EpisodeRow]) -> Iterator[Episode]:
    for r in rows:
        yield Episode(run_id, store.episode_detail(run_id, r.id))


def export(
    store: Store,
    runs: Sequence[str],
    format: str,
    out: str | Path,
    *,
    filter: str | None = None,
    env: str | None = None,
    dpo_mode: str = "step",
    overwrite: bool = True,
) -> ExportResult:
    """Export the episodes of ``runs`` (one or more run ids) to ``out`` (``.jsonl`` or ``.parquet``).

    ``filter`` selects episodes for ``sft`` (default ``success``) and ``raw`` (default ``all``);
    ``dpo`` and ``rm`` always pair successes with failures of the same task, across all ``runs``.
    With ``overwrite=False`` an existing ``out`` is refused (the CLI's default) before any work.
    """
    path = Path(out)
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}; valid formats: {', '.join(FORMATS)}")
    file_format(path)
    check_overwrite(path, overwrite)
    if not runs:
        raise UsageError("name at least one run to export")
    if filter is not None and filter not in FILTERS:
        raise UsageError(f"unknown filter {filter!r}; valid filters: {', '.join(FILTERS)}")
    if filter is not None and format in ("dpo", "rm"):
        raise UsageError(f"--filter does not apply to {format}: pairs are always a success and a failure")
    if dpo_mode not in DPO_MODES:
        raise UsageError(f"unknown DPO mode {dpo_mode!r}; valid modes: {', '.join(DPO_MODES)}")
    for rid in dict.fromkeys(runs):
        require_single_agent(store.run_row(rid))
    selected = {rid: store.episode_rows(rid, env=env) for rid in dict.fromkeys(runs)}

    if format in ("sft", "raw", "search-sft", "search-dpo"):
        chosen_filter = filter or ("all" if format in ("raw", "search-dpo") else "success")
        picked = {rid: [r for r in rows if _keep(r, chosen_filter)] for rid, rows in selected.items()}
        n_eps = sum(map(len, picked.values()))

        def rows_iter() -> Iterator[dict[str, Any]]:
            for rid, rows in picked.items():
                for ep in _episodes(store, rid, rows):
                    if format.startswith("search-") and not searched(ep):
                        continue
                    if format == "search-dpo":
                        yield from search_dpo_rows(ep)
                    elif format in ("sft", "search-sft"):
                        row = sft_row(ep)
                        if row is not None:
                            yield row
                    else:
                        yield raw_row(ep, store.model_call_rows(rid, ep.detail.row.id))

        n = write_rows(rows_iter(), path, COLUMNS[format])
        note = "" if n else f"no {chosen_filter} episodes to export"
        if not n and format.startswith("search-"):
            note = (
                f"no {format} rows: export runs of a search strategy (--agent bestofn, beam or mcts) "
                "whose trees have siblings of different values"
            )
        return ExportResult(path, format, n, n_eps, note)

    # Preference formats: successes and failures of the same task, across every run given.
    by_task: dict[tuple[str, str], tuple[list[tuple[str, str]], list[tuple[str, str]]]] = defaultdict(
        lambda: ([], [])
    )
    for rid, rows in selected.items():
        for r in rows:
            key = (r.env, r.task_id)
            if r.success:
                by_task[key][0].append((rid, r.id))
            elif r.status in FAILED_STATUSES:
                by_task[key][1].append((rid, r.id))
    tasks = {k: v for k, v in sorted(by_task.items()) if v[0] and v[1]}
    n_eps = sum(len(s) + len(f) for s, f in tasks.values())

    def load(ref: tuple[str, str], cache: dict[tuple[str, str], Episode]) -> Episode:
        if ref not in cache:
            cache[ref] = Episode(ref[0], store.episode_detail(*ref))
        return cache[ref]

    def opening(ep: Episode) -> str:
        """What the agent was told before its first turn: only episodes that saw the same prompt
        (same task, same step limit, same env arguments) make a meaningful pair."""
        conv = conversation(ep.detail, final=False)
        first = next((i for i, m in enumerate(conv) if m["role"] == "assistant"), len(conv))
        return repr(conv[:first])

    def pairs_iter() -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for successes, failures in tasks.values():
            cache: dict[tuple[str, str], Episode] = {}
            groups: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = defaultdict(
                lambda: ([], [])
            )
            for side, refs in enumerate((successes, failures)):
                for ref in refs:
                    groups[opening(load(ref, cache))][side].append(ref)
            for good, bad in groups.values():
                yield from _rows(good, bad, cache, seen)

    def _rows(
        successes: list[tuple[str, str]],
        failures: list[tuple[str, str]],
        cache: dict[tuple[str, str], Episode],
        seen: set[str],
    ) -> Iterator[dict[str, Any]]:
        for s, f in pairings(successes, failures):
            chosen, rejected = load(s, cache), load(f, cache)
            row = dpo_row(chosen, rejected, dpo_mode) if format == "dpo" else rm_row(chosen, rejected)
            if row is None:
                continue
            key = repr((row.get("prompt"), row["chosen"], row["rejected"]))
            if key not in seen:  # identical pairs from different episodes add nothing
                seen.add(key)
                yield row

    n = write_rows(pairs_iter(), path, COLUMNS[format])
    note = ""
    if not tasks:
        note = (
            "no task has both a successful and a failed episode; draw several samples per task "
            "(--samples) or pass several runs of the same tasks"
        )
    return ExportResult(path, format, n, n_eps, note)
