"""The store's typed reads give, through ``as_dict()``, exactly the dicts its reads always returned.

The reference here reads the tables directly, the way the dict readers did before the typed rows,
so any field, value or key order a typed row changes shows up as a difference (and JSON made from
either, ``--json`` and exports, stays byte for byte the same).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields
from typing import Any

import pytest

from palaestra import RunConfig, Store, run
from palaestra.models.mock import MockModel
from palaestra.runner.tournament import MatchConfig, run_matches
from palaestra.store.browse import StoreBrowser
from palaestra.store.rows import EpisodeDetail, EpisodeRow, MatchRow, SeatRow, StepRow
from palaestra.types import Message, ToolSpec
from test_export import WithTokens
from test_match import GAME


def _guess(messages: list[Message], tools: list[ToolSpec] | None) -> dict[str, Any]:
    return {"content": "a guess", "tool": "guess", "arguments": {"number": len(messages)}}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str, str]:
    st = Store(tmp_path_factory.mktemp("typed") / "s.db")

    async def make() -> tuple[str, str]:
        single = await run(
            RunConfig(envs=["guess", "maze"], agent="tools", model="mock", tasks=2, max_steps=4),
            st,
            model=WithTokens(MockModel(_guess, cycle=True)),  # type: ignore[arg-type]
        )
        config = MatchConfig(game=GAME, seats={"a": "random", "b": "low"}, default="honest", tasks=2)
        return single, await run_matches(config, st)

    single, match = asyncio.run(make())
    return st, single, match


def _dicts(st: Store, sql: str, *args: Any) -> list[dict[str, Any]]:
    cur = st.con.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]


def _loads_or_none(text: str | None) -> Any:
    return json.loads(text) if text else None


def _old_episode(st: Store, run_id: str, episode_id: str) -> dict[str, Any]:
    cols = "id, env, task_id, split, difficulty, sample, agent, model, status, reward, success, progress, "
    cols += (
        "steps, invalid_actions, input_tokens, output_tokens, model_calls, model_latency, cost, wall, error"
    )
    (ep,) = _dicts(
        st, f"SELECT {cols}, task, final FROM episodes WHERE run_id=? AND id=?", run_id, episode_id
    )
    ep["task"], ep["final"] = json.loads(ep["task"]), json.loads(ep["final"])
    ep["steps"] = [
        {
            "index": s["idx"],
            "seat": s["seat"],
            "observation": json.loads(s["observation"]),
            "action": json.loads(s["action"]),
            "reward": s["reward"],
            "info": json.loads(s["info"]),
            "tools": _loads_or_none(s["tools"]),
            "trace": _loads_or_none(s["trace"]),
        }
        for s in _dicts(
            st, "SELECT * FROM steps WHERE run_id=? AND episode_id=? ORDER BY seat, idx", run_id, episode_id
        )
    ]
    ep["calls"] = _dicts(
        st,
        "SELECT input_tokens, output_tokens, latency, retries, cost, error, ttft FROM model_calls "
        "WHERE run_id=? AND episode_id=? ORDER BY idx",
        run_id,
        episode_id,
    )
    return ep


_SEATS = "seat, idx, player, model, score, won, forfeit, steps, invalid_actions, model_calls, input_tokens, "
_SEATS += "output_tokens"


def _old_match(st: Store, run_id: str, episode_id: str) -> dict[str, Any]:
    ep = _old_episode(st, run_id, episode_id)
    (row,) = st.con.execute("SELECT result FROM episodes WHERE run_id=? AND id=?", (run_id, episode_id))
    ep["result"] = _loads_or_none(row[0])
    ep["seats"] = _dicts(
        st,
        f"SELECT {_SEATS}, final FROM seats WHERE run_id=? AND episode_id=? ORDER BY idx",
        run_id,
        episode_id,
    )
    for seat in ep["seats"]:
        seat["final"] = json.loads(seat["final"])
    seats = st.con.execute(
        "SELECT seat FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx", (run_id, episode_id)
    )
    for call, (seat,) in zip(ep["calls"], seats, strict=True):
        call["seat"] = seat
    return ep


def _old_matches(st: Store, run_id: str) -> list[dict[str, Any]]:
    out = _dicts(
        st,
        "SELECT id, env AS game, task_id, difficulty, sample AS round, status, wall, error, result FROM episodes "
        "WHERE run_id=? AND result IS NOT NULL ORDER BY id",
        run_id,
    )
    for m in out:
        m["result"] = json.loads(m["result"])
        m["seats"] = _dicts(
            st, f"SELECT {_SEATS} FROM seats WHERE run_id=? AND episode_id=? ORDER BY idx", run_id, m["id"]
        )
    return out


def _old_model_calls(st: Store, run_id: str, episode_id: str) -> list[dict[str, Any]]:
    calls = _dicts(
        st,
        "SELECT idx, input_tokens, output_tokens, latency, retries, cost, finish_reason, token_ids, logprobs, "
        "prompt_token_ids, error, ttft FROM model_calls WHERE run_id=? AND episode_id=? ORDER BY idx",
        run_id,
        episode_id,
    )
    for c in calls:
        for key in ("token_ids", "logprobs", "prompt_token_ids"):
            c[key] = None if c[key] is None else json.loads(c[key])
    return calls


def _same(a: Any, b: Any) -> None:
    """Equal, and equal as JSON too (so key order and int/float/bool types match)."""
    assert a == b
    assert json.dumps(a) == json.dumps(b)


def test_episode_and_model_calls_as_dict_are_the_old_dicts(stored: tuple[Store, str, str]) -> None:
    st, single, _ = stored
    rows = st.episode_rows(single)
    assert len(rows) == 4 and {r.env for r in rows} == {"guess", "maze"}
    n_calls = 0
    for r in rows:
        detail = st.episode_detail(single, r.id)
        assert detail.row == r and detail.seats is None and len(detail.steps) == r.steps
        _same(detail.as_dict(), _old_episode(st, single, r.id))
        _same(st.episode(single, r.id), _old_episode(st, single, r.id))
        calls = st.model_call_rows(single, r.id)
        assert [c.token_ids for c in calls] == [[5, 6, 7]] * len(calls)
        n_calls += len(calls)
        _same([c.as_dict() for c in calls], _old_model_calls(st, single, r.id))
        _same(st.model_calls(single, r.id), _old_model_calls(st, single, r.id))
    assert n_calls > 0  # the calls were compared on real rows


def test_match_and_matches_as_dict_are_the_old_dicts(stored: tuple[Store, str, str]) -> None:
    st, _, match = stored
    rows = st.match_rows(match)
    assert len(rows) == 2 and all(len(m.seats) == 3 for m in rows)
    _same([m.as_dict() for m in rows], _old_matches(st, match))
    _same(st.matches(match), _old_matches(st, match))
    for m in rows:
        detail = st.match_detail(match, m.id)
        assert detail.result == m.result and [s.seat for s in detail.seats or []] == ["a", "b", "c"]
        _same(detail.as_dict(), _old_match(st, match, m.id))
        _same(st.match(match, m.id), _old_match(st, match, m.id))


def test_summary_as_dict_is_the_stored_shape(stored: tuple[Store, str, str]) -> None:
    st, single, _ = stored
    s = st.summary_of(single)
    assert s.episodes == 4 and set(s.envs) == {"guess", "maze"}
    d = st.summary(single)
    _same(s.as_dict(), d)
    assert list(d) == [
        "run_id",
        "episodes",
        "success_rate",
        "mean_reward",
        "mean_progress",
        "invalid_action_rate",
        "errors",
        "timeouts",
        "input_tokens",
        "output_tokens",
        "model_calls",
        "envs",
    ]
    assert list(d["envs"]["guess"]) == [
        "episodes",
        "success_rate",
        "mean_reward",
        "mean_progress",
        "invalid_action_rate",
        "steps",
        "errors",
        "timeouts",
        "truncated",
        "input_tokens",
        "output_tokens",
        "model_calls",
        "cost",
        "episode_wall_s",
    ]
    assert d["envs"]["guess"]["steps"] == sum(r.steps for r in st.episode_rows(single, env="guess"))


def test_an_episode_built_from_a_partial_dict_fills_what_it_lacks() -> None:
    ep = EpisodeDetail.from_dict(
        {"status": "truncated", "success": 0, "steps": [{"action": {"role": "assistant"}}], "error": None}
    )
    assert ep.row == EpisodeRow.from_dict({"status": "truncated", "steps": 1})
    assert ep.row.id == "" and ep.row.reward == 0.0 and ep.row.cost is None and ep.row.steps == 1
    assert ep.steps == [StepRow(0, "", [], {"role": "assistant"}, 0.0, {}, None, None)]
    assert EpisodeDetail.from_dict({"steps": 7}).row.steps == 7 and EpisodeDetail.from_dict({}).steps == []
    calls = EpisodeDetail.from_dict({"calls": [{"input_tokens": 3, "seat": "a"}]}).calls
    assert [(c.input_tokens, c.output_tokens, c.cost, c.seat) for c in calls] == [(3, 0, None, "a")]


def test_a_match_built_from_a_partial_dict_reads_its_seats() -> None:
    m = MatchRow.from_dict(
        {"id": "m1", "status": "done", "seats": [{"seat": "s0", "player": "p", "won": 1.0}]}
    )
    assert m.result == {} and m.round == 0 and m.error is None
    assert m.seats == [SeatRow("s0", 0, "p", "", 0.0, 1.0, None, 0, 0, 0, 0, 0)]


def test_the_viewers_episode_is_the_stores_in_the_viewers_order(stored: tuple[Store, str, str]) -> None:
    st, single, match = stored
    viewer = StoreBrowser(st.path)
    columns = [f.name for f in fields(EpisodeRow)]
    for rid, read in ((single, st.episode), (match, st.match)):
        for r in st.episode_rows(rid):
            shown, stored_ep = viewer.episode(rid, r.id, steps_limit=1000), read(rid, r.id)  # type: ignore[operator]
            assert shown is not None
            page = shown.as_dict()
            after = ["task", "final", "finished", "result", "run_id", "seats", "steps_total", "steps_offset"]
            assert list(page) == [*columns, *after, "calls"]
            for key in (*columns, "task", "final", "steps"):
                assert page[key] == stored_ep[key], key
            assert page["steps_total"] == len(stored_ep["steps"]) and page["run_id"] == rid
            assert [c["input_tokens"] for c in page["calls"]] == [
                c["input_tokens"] for c in stored_ep["calls"]
            ]
            assert page["seats"] == [
                {k: v for k, v in s.items() if k not in ("idx", "final")} for s in stored_ep.get("seats", [])
            ]
            assert page["result"] == stored_ep.get("result")
    viewer.close()


def test_the_run_list_as_dict_is_the_old_dicts(stored: tuple[Store, str, str]) -> None:
    st, single, match = stored
    old = _dicts(
        st,
        "SELECT r.id, r.created, r.status, r.config, count(e.id) AS episodes, "
        "coalesce(avg(e.success), 0) AS success_rate, coalesce(sum(e.status = 'error'), 0) AS errors "
        "FROM runs r LEFT JOIN episodes e ON e.run_id = r.id GROUP BY r.id ORDER BY r.created DESC",
    )
    for r in old:
        r["config"] = json.loads(r["config"])
    rows = st.run_list()
    assert [r.id for r in rows] == [match, single] and rows[1].episodes == 4
    _same([r.as_dict() for r in rows], old)
    _same(st.runs(), old)
