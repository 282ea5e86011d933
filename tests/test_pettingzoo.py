"""The PettingZoo parallel adapter: PettingZoo's own API test, turn handling, forfeits, rewards."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from palaestra.env import env_factory, env_names
from palaestra.multi import MultiAgentEnv
from test_match import Endless
from test_multi import SealedBid

pytest.importorskip("pettingzoo")

from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, parallel_seed_test, seed_test

from palaestra.adapters.pettingzoo import PettingZooEnv, env


def _builtin_games() -> list[str]:
    out = []
    for name in env_names():
        cls = env_factory(name)
        if (
            isinstance(cls, type)
            and issubclass(cls, MultiAgentEnv)
            and cls.__module__.startswith("palaestra.envs.")
        ):
            out.append(name)
    return out


def _api_test(env: PettingZooEnv, cycles: int = 200) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # the API test reports bad key sets as warnings
            parallel_api_test(env, num_cycles=cycles)
    finally:
        env.close()


def test_parallel_api_test_on_the_tiny_game() -> None:
    _api_test(PettingZooEnv(SealedBid()))


def test_parallel_api_test_on_a_turn_based_game_with_a_round_cap() -> None:
    _api_test(PettingZooEnv(Endless()))


@pytest.mark.parametrize("name", _builtin_games())
def test_parallel_api_test_on_every_builtin_game(name: str) -> None:
    _api_test(PettingZooEnv(name), cycles=100)


def test_turns_forfeits_and_rewards() -> None:
    env = PettingZooEnv(SealedBid())
    obs, infos = env.reset(seed=3)
    cards = env.game.card  # type: ignore[attr-defined]
    assert env.agents == ["a", "b", "c"] and all(infos[s]["acting"] for s in env.agents)
    assert f"secret card is {cards['a']}" in obs["a"] and f"secret card is {cards['a']}" not in obs["b"]
    assert "bid(amount: integer)" in obs["a"]
    obs, rew, term, _, infos = env.step(
        {"a": "bid 1", "b": '{"name": "bid", "arguments": {"amount": 2}}', "c": "no idea"}
    )
    assert obs["a"] == "you bid 1" and obs["b"] == "you bid 2" and "no move found" in obs["c"]
    assert infos["c"]["invalid_action"] and infos["c"]["acting"] and not infos["a"]["acting"]
    # a and b have moved: their actions are ignored, and not counted against them
    obs, rew, term, _, infos = env.step({"a": "bid 999999", "b": "bid 0", "c": "?"})
    assert obs["a"] == "" and not infos["a"]["invalid_action"]
    obs, rew, term, _trunc, infos = env.step({"c": "?"})  # c's third illegal move in a row: it forfeits
    assert term == {"a": True, "b": True, "c": True} and env.agents == []
    assert "c forfeits" in obs["a"]
    assert sum(rew.values()) == sum(env.game.scores.values())
    assert rew["c"] == 0.0
    env.close()


def test_truncation_after_max_cycles() -> None:
    env = PettingZooEnv(Endless(), max_cycles=3)
    env.reset(seed=0)
    for _ in range(3):
        _obs, _rew, term, trunc, _infos = env.step({a: "pass_turn" for a in env.agents})
    assert trunc == {"x": True, "y": True} and not any(term.values()) and env.agents == []
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", _builtin_games())
def test_pettingzoos_other_tests_on_every_builtin_game(name: str) -> None:
    """The AEC api_test (with NumPy observations: it assumes arrays), max_cycles_test (without
    forfeits: it plays random strings for longer than three illegal moves) and both seed tests."""
    from functools import partial
    from types import SimpleNamespace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # api_test warns about what text observations are not
        aec = env(name, observations="utf8")
        api_test(aec, num_cycles=30)
        aec.close()
        module = SimpleNamespace(
            parallel_env=partial(PettingZooEnv, name, forfeits=False), env=partial(env, name, forfeits=False)
        )
        max_cycles_test(module)
        parallel_seed_test(partial(PettingZooEnv, name), num_cycles=20)
        seed_test(partial(env, name), num_cycles=20)


def test_utf8_observations_are_the_texts_bytes() -> None:
    game = PettingZooEnv("matrix-pd", observations="utf8", max_bytes=64)
    obs, _ = game.reset(seed=0)
    text = PettingZooEnv("matrix-pd")
    plain, _ = text.reset(seed=0)
    seat = game.agents[0]
    assert obs[seat].dtype == np.uint8 and obs[seat].shape == (64,)
    assert bytes(obs[seat]).rstrip(b"\0").decode("utf-8", "ignore") == plain[seat].encode()[:64].decode(
        "utf-8", "ignore"
    )
    assert game.observation_space(seat).contains(obs[seat])
    game.close()
    text.close()


def test_without_forfeits_illegal_moves_never_end_the_game() -> None:
    game = PettingZooEnv("matrix-pd", forfeits=False, max_cycles=10)
    game.reset(seed=0)
    for _ in range(6):
        _, _, terminated, _, infos = game.step(dict.fromkeys(game.agents, "nonsense"))
    assert not any(terminated.values()) and all(i["invalid_action"] for i in infos.values())
    game.close()


def test_an_unclosed_adapter_frees_its_event_loop() -> None:
    import gc

    game = PettingZooEnv("matrix-pd")
    loop = game._loop
    del game
    gc.collect()
    assert loop.is_closed()
