"""Simulations: hand-checked updates, the per-situation cache, invalid replies, determinism,
archetype against individual mode, sharding, and the store, show and report reading a run."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from palaestra.errors import ModelError, UsageError
from palaestra.models.mock import MockModel
from palaestra.sim import SimRun, make_sim, run_sim, simulate
from palaestra.sim.base import IDLE
from palaestra.sim.decide import parse_choice
from palaestra.sim.donor import GIVE, KEEP, DonorGame
from palaestra.sim.opinion import OpinionSpread, small_world
from palaestra.sim.recommender import CLICK, LEAVE, RecommenderUsers
from palaestra.sim.responder import situation_responder
from palaestra.sim.shards import LocalExecutor, split
from palaestra.store import Store
from palaestra.types import Message, ToolCall, ToolSpec

SIMS = ("donor", "opinion", "recommender")


def per_situation(messages: list[Message], tools: list[ToolSpec] | None) -> dict[str, Any]:
    """A model that decides from the persona and situation alone (the fake server's responder)."""
    request = {"messages": [m.model_dump() for m in messages], "tools": [t.openai() for t in tools or []]}
    call = situation_responder(request)["tool_calls"][0]
    return {"tool": call["name"], "arguments": call["arguments"]}


def per_agent(messages: list[Message], tools: list[ToolSpec] | None) -> str:
    """A model that also reads the exact state: its choice depends on the whole prompt."""
    choices = tools[0].parameters["properties"]["choice"]["enum"] if tools else ["x"]
    return choices[sum(map(ord, messages[-1].content)) % len(choices)]


def run(name: str, model: Any, n: int = 300, rounds: int = 4, **kw: Any) -> Any:
    return asyncio.run(simulate(make_sim(name), model, agents=n, rounds=rounds, **kw))


# ---- hand-checked updates -------------------------------------------------------------------------
def test_donor_round_by_hand() -> None:
    sim = DonorGame()
    rng = np.random.default_rng(0)
    state = {
        "archetype": np.array([0, 1, 2, 3], dtype=np.int8),
        "resources": np.array([10, 10, 4, 30], dtype=np.float32),
        "reputation": np.zeros(4, dtype=np.int8),
        "recipient": np.array([1, 2, 3, 0], dtype=np.int32),
    }
    choices = np.array([GIVE, KEEP, GIVE, KEEP], dtype=np.int8)
    assert sim.situation(state, 0, 4).tolist() == [1, 1, 0, 2]  # unknown reputation; about, about, poor, rich
    parts = sim.act(state, choices, 0, 4)
    assert parts["gift"].tolist() == [5, 0, 2, 0]
    m = sim.apply(state, parts, choices, rng, 0)
    # 0 gives 5 to 1 (who gets 10), 2 gives 2 to 3 (who gets 4)
    assert state["resources"].tolist() == [5, 20, 2, 34]
    assert m["cooperation_rate"] == 0.5 and m["mean_resources"] == pytest.approx(15.25)
    assert state["reputation"].tolist() == [2, 1, 2, 1]
    # agent 0 gives to 1 (refused: reputation 1) and has 5 (about the start); agent 1 to 2 (gave), is rich
    assert sim.situation(state, 0, 2).tolist() == [1 * 3 + 1, 2 * 3 + 2]


def test_donor_generation_copies_the_richer_half() -> None:
    sim = DonorGame(generation=1, mutation=0.0)
    state = {
        "archetype": np.array([0, 1, 2, 3], dtype=np.int8),
        "resources": np.array([5, 20, 2, 34], dtype=np.float32),
        "reputation": np.array([2, 1, 2, 1], dtype=np.int8),
        "recipient": np.array([1, 2, 3, 0], dtype=np.int32),
    }
    keep = np.full(4, KEEP, dtype=np.int8)
    m = sim.apply(state, {"gift": np.zeros(4, dtype=np.float32)}, keep, np.random.default_rng(1), 0)
    assert state["archetype"][[1, 3]].tolist() == [1, 3]
    assert set(state["archetype"][[0, 2]].tolist()) <= {1, 3}  # the two poorest copied a rich one
    assert m["share_generous"] == 0 and m["share_cautious"] == 0
    assert m["share_reciprocator"] + m["share_selfish"] == 1
    assert state["resources"].tolist() == [10] * 4 and state["reputation"].tolist() == [0] * 4


def test_opinion_round_by_hand() -> None:
    sim = OpinionSpread(degree=2, rate=0.5)
    state = {
        "archetype": np.zeros(3, dtype=np.int8),
        "opinion": np.array([-1, 0, 1], dtype=np.float32),
        "follows": np.array([[1, 2], [0, 2], [0, 1]], dtype=np.int32),
    }
    # own: strongly against, undecided, strongly for; theirs: 0.5 (in favour), 0, -0.5 (against)
    assert sim.situation(state, 0, 3).tolist() == [0 * 5 + 3, 2 * 5 + 2, 4 * 5 + 1]
    choices = np.array([0, 1, 2], dtype=np.int8)  # move_closer, hold, move_away
    m = sim.apply(state, sim.act(state, choices, 0, 3), choices, np.random.default_rng(0), 0)
    assert state["opinion"].tolist() == pytest.approx([-0.25, 0.0, 1.0])  # 1.75 clipped to 1
    assert m["mean_opinion"] == pytest.approx(0.25)
    assert m["polarisation"] == pytest.approx((0.0625 + 0 + 1) / 3 - 0.0625)
    assert m["extreme_share"] == pytest.approx(1 / 3)
    assert m["disagreement"] == pytest.approx(1.0)


def test_recommender_round_by_hand() -> None:
    sim = RecommenderUsers(drift=0.05)
    taste = np.array([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [1 / 6] * 6], dtype=np.float32)
    state = {
        "archetype": np.zeros(2, dtype=np.int8),
        "taste": taste,
        "clicks": np.zeros((2, 6), dtype=np.float32),
        "shown": np.array([0, 1], dtype=np.int8),
        "streak": np.array([1, 5], dtype=np.int8),
        "active": np.ones(2, dtype=bool),
    }
    assert sim.situation(state, 0, 2).tolist() == [
        2 * 3 + 0,
        1 * 3 + 2,
    ]  # favourite/fresh, sometimes/yet again
    choices = np.array([CLICK, LEAVE], dtype=np.int8)
    m = sim.apply(state, sim.act(state, choices, 0, 2), choices, np.random.default_rng(0), 0)
    assert m == pytest.approx(
        {"click_through": 0.5, "active_share": 0.5, "repeat_share": 0.5, "match": 1 / 3}
    )
    assert state["clicks"][0].tolist() == [1, 0, 0, 0, 0, 0] and state["clicks"][1].sum() == 0
    assert state["taste"][0, 0] == pytest.approx(0.55 / 1.05) and state["taste"][0].sum() == pytest.approx(1)
    assert state["active"].tolist() == [True, False]
    assert sim.situation(state, 0, 2)[1] == IDLE  # who left decides no more


def test_small_world_graph_is_seeded_and_never_self() -> None:
    a = small_world(1000, 8, np.random.default_rng(3))
    assert a.shape == (1000, 8) and a.dtype == np.int32
    assert (a != np.arange(1000)[:, None]).all()
    assert (a == small_world(1000, 8, np.random.default_rng(3))).all()
    assert not (a == small_world(1000, 8, np.random.default_rng(4))).all()


# ---- deciding ---------------------------------------------------------------------------------------
def test_parse_choice() -> None:
    d = DonorGame.decision
    call = ToolCall(id="c", name="decide", arguments={"choice": "Give"})
    assert parse_choice(Message(role="assistant", tool_calls=[call]), d) == 0
    bad = ToolCall(id="c", name="decide", arguments={"choice": "maybe"})
    assert parse_choice(Message(role="assistant", tool_calls=[bad]), d) is None
    assert parse_choice(Message(role="assistant", content="I would keep."), d) == 1
    assert parse_choice(Message(role="assistant", content="Keep. Giving half is too much."), d) == 1
    assert parse_choice(Message(role="assistant", content="I'd say: give or keep?"), d) is None
    assert parse_choice(Message(role="assistant", content="no idea"), d) is None


@pytest.mark.parametrize("name", SIMS)
def test_one_call_per_archetype_and_situation_a_round(name: str) -> None:
    model = MockModel(per_situation)
    prompts: list[str] = []
    original = model.generate

    async def spy(messages: list[Message], tools: Any, config: Any) -> Any:
        prompts.append(messages[-1].content)
        return await original(messages, tools, config)

    model.generate = spy  # type: ignore[method-assign]
    res = run(name, model, n=2000, rounds=3)
    calls = [r.info["model_calls"] for r in res.rounds]
    assert model.calls == sum(calls) == len(prompts)
    sim = make_sim(name)
    assert all(0 < c <= len(sim.archetypes) * len(sim.situations) for c in calls)
    start = 0
    for r, c in zip(res.rounds, calls, strict=True):
        assert (
            len(set(prompts[start : start + c])) == c
        )  # never the same (archetype, situation) twice a round
        assert r.info["cache_hits"] == 2000 - r.info["idle"] - c
        start += c
    assert res.rounds[0].info["cache_hits"] > 1900


def test_invalid_replies_fall_back_to_the_default_and_are_counted() -> None:
    res = run("opinion", MockModel("I am not sure."), n=500, rounds=2)
    for r in res.rounds:
        assert r.info["invalid"] == r.info["model_calls"] > 0
        assert r.metrics["choice_hold"] == 1.0  # the declared default
    res = run("opinion", MockModel([{"error": "server down"}], cycle=True), n=50, rounds=1)
    assert res.rounds[0].info["model_errors"] == res.rounds[0].info["model_calls"] > 0
    assert res.rounds[0].metrics["choice_hold"] == 1.0
    assert all(c.error for c in res.calls)


def test_a_fatal_model_error_stops_the_simulation() -> None:
    with pytest.raises(ModelError):
        run("donor", MockModel([ModelError("bad key", status=401, fatal=True)], cycle=True), n=10, rounds=2)


@pytest.mark.parametrize("name", SIMS)
def test_same_seed_same_run(name: str) -> None:
    a = run(name, MockModel(per_situation), seed=7)
    b = run(name, MockModel(per_situation), seed=7)
    c = run(name, MockModel(per_situation), seed=8)
    assert [r.metrics for r in a.rounds] == [r.metrics for r in b.rounds]
    assert [r.metrics for r in a.rounds] != [r.metrics for r in c.rounds]


@pytest.mark.parametrize("name", SIMS)
def test_archetype_and_individual_mode_agree_when_the_model_decides_per_situation(name: str) -> None:
    spec = SimRun(name, 200, 4, modes=("archetype", "individual"), seed=3)
    _, _, (arch, ind) = asyncio.run(run_sim(spec, MockModel(per_situation)))
    assert ind.rounds[0].info["model_calls"] == 200 > 2 * arch.rounds[0].info["model_calls"]
    assert [r.metrics for r in arch.rounds] == [r.metrics for r in ind.rounds]
    # a model that reads each agent's exact state decides otherwise: the comparison sees it
    _, _, (arch, ind) = asyncio.run(run_sim(spec, MockModel(per_agent)))
    assert [r.metrics for r in arch.rounds] != [r.metrics for r in ind.rounds]


def test_individual_mode_is_refused_for_a_large_population() -> None:
    with pytest.raises(UsageError, match="individual mode"):
        SimRun("donor", 1_000_000, 2, modes=("individual",)).check()


@pytest.mark.parametrize("name", SIMS)
def test_shards_give_the_same_run(name: str) -> None:
    one = run(name, MockModel(per_situation), n=1001, executor=LocalExecutor(1))
    three = run(name, MockModel(per_situation), n=1001, executor=LocalExecutor(3))
    chunked = run(name, MockModel(per_situation), n=1001, executor=LocalExecutor(1, chunk=100))
    assert [r.metrics for r in one.rounds] == [r.metrics for r in three.rounds]
    assert [r.metrics for r in one.rounds] == [r.metrics for r in chunked.rounds]
    assert split(10, 3) == [(0, 3), (3, 6), (6, 10)] and split(2, 5) == [(0, 1), (1, 2)]


def test_params_are_cast_and_checked() -> None:
    assert make_sim("donor", {"generation": "3", "mutation": "0.1"}).params()["generation"] == 3
    with pytest.raises(UsageError, match="no parameter 'nope'"):
        make_sim("donor", {"nope": "1"})
    with pytest.raises(UsageError, match="expected a int"):
        make_sim("donor", {"generation": "x"})
    with pytest.raises(UsageError, match="generation >= 1"):
        make_sim("donor", {"generation": "0"})
    with pytest.raises(UsageError, match="no simulation 'x'"):
        make_sim("x")


# ---- the store, show and report ---------------------------------------------------------------------
def test_a_run_is_stored_with_its_rounds(store_path: Path) -> None:
    st = Store(store_path)
    spec = SimRun("donor", 150, 3, modes=("archetype", "individual"), seed=1)
    run_id, _, results = asyncio.run(run_sim(spec, MockModel(per_situation), st))
    assert run_id is not None
    run = st.run(run_id)
    assert run["config"]["kind"] == "sim" and run["status"] == "finished"
    assert run["summary"]["mean_divergence"]["cooperation_rate"] == 0.0
    assert run["summary"]["modes"]["individual"]["model_calls_per_round"] == 150
    ep = st.episode(run_id, "archetype")
    assert [s["info"]["cooperation_rate"] for s in ep["steps"]] == results[0].series("cooperation_rate")
    assert len(ep["calls"]) == sum(r.info["model_calls"] for r in results[0].rounds)
    # each round's decisions in words: one line per (archetype, situation) asked, with the reply
    lines = ep["steps"][0]["action"]["content"].splitlines()
    assert len(lines) == 1 + results[0].rounds[0].info["model_calls"]
    assert lines[1].startswith(DonorGame.archetypes) and "decide(" in lines[1]
    individual = st.episode(run_id, "individual")["steps"][0]["action"]["content"].splitlines()
    assert len(individual) == 1 + 100 and individual[1].startswith("agent 0: ")  # at most 100 kept


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``palaestra ARGS`` in this process: exit code, stdout, stderr."""
    from palaestra.cli import main

    argv = sys.argv
    sys.argv = ["palaestra", *args]
    try:
        with pytest.raises(SystemExit) as e:
            main()
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def test_cli_sim_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    code, stdout, stderr = cli(
        capsys, "sim", "recommender", "-n", "3000", "-r", "3", "--fake-server", "--store", db, "--json"
    )
    assert code == 0, stderr
    out = json.loads(stdout)
    rounds = out["series"]["archetype"]
    assert len(rounds) == 3 and 0 < rounds[0]["model_calls"] <= 27 and rounds[0]["invalid"] == 0
    assert out["summary"]["modes"]["archetype"]["agents"] == 3000
    code, stdout, stderr = cli(capsys, "show", "last", "--store", db, "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["rounds"]["archetype"][2]["click_through"] == rounds[2]["click_through"]
    code, stdout, _ = cli(capsys, "show", "last", "--store", db)
    assert code == 0 and "archetype mode" in stdout and "model calls/round" in stdout


def test_report_draws_the_time_series(store_path: Path, tmp_path: Path) -> None:
    from palaestra.report import write_report

    st = Store(store_path)
    spec = SimRun("opinion", 300, 3, modes=("archetype", "individual"))
    run_id, _, _ = asyncio.run(run_sim(spec, MockModel(per_situation), st))
    assert run_id is not None
    res = write_report(st, [run_id], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert res.runs == [run_id] and res.episodes == 2  # an episode per mode
    assert page.count("<svg") == 3  # metrics per round, model calls per round, archetype vs individual
    for text in ("polarisation", "disagreement", "Archetype vs individual agents", run_id):
        assert text in page


def test_cli_sim_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    for args, message in (
        (["sim", "donor", "--store", db], "name the model that decides"),
        (["sim", "nope", "--fake-server", "--store", db], "no simulation 'nope'"),
        (["sim", "donor", "--mode", "x", "--fake-server", "--store", db], "--mode must be"),
        (["sim", "donor", "--param", "generation", "--fake-server", "--store", db], "NAME=VALUE"),
    ):
        code, _, stderr = cli(capsys, *args)
        assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.slow
def test_ray_shards_give_the_same_run_as_local() -> None:
    pytest.importorskip("ray")
    from palaestra.sim.shards import RayExecutor

    ray_executor = RayExecutor(shards=2, num_cpus=2)
    try:
        for name in SIMS:
            local = run(name, MockModel(per_situation), n=5000, rounds=3)
            on_ray = run(name, MockModel(per_situation), n=5000, rounds=3, executor=ray_executor)
            assert [r.metrics for r in on_ray.rounds] == [r.metrics for r in local.rounds]
    finally:
        ray_executor.close()
    import ray

    assert not ray.is_initialized()  # the executor shut down the Ray it started


def test_a_report_of_mixed_runs_leaves_the_simulation_out_with_a_note(
    store_path: Path, tmp_path: Path
) -> None:
    from palaestra import RunConfig
    from palaestra import run as run_episodes
    from palaestra.report import write_report

    st = Store(store_path)
    sim_id, _, _ = asyncio.run(run_sim(SimRun("donor", 50, 2), MockModel(per_situation), st))
    episodes_id = asyncio.run(run_episodes(RunConfig(envs=["counter"], agent="expert", tasks=2), st))
    res = write_report(st, [episodes_id, sim_id], tmp_path / "r.html")
    assert res.runs == [episodes_id]
    assert len(res.skipped) == 1 and f"run {sim_id} is a simulation" in res.skipped[0]


def test_sim_without_numpy_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from palaestra.cli import app

    for name in [m for m in sys.modules if m == "palaestra.sim" or m.startswith("palaestra.sim.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "numpy", None)  # as on a base install: import numpy fails
    result = CliRunner().invoke(
        app,
        [
            "sim",
            "donor",
            "--agents",
            "10",
            "--rounds",
            "1",
            "--model",
            "mock:x",
            "--store",
            str(tmp_path / "s.db"),
        ],
    )
    assert isinstance(result.exception, UsageError)  # main() prints it as one line, exit 2
    assert "pip install 'palaestra[sim]'" in str(result.exception)
