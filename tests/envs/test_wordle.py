"""Tests of the wordle environment: contract, rules, feedback, hard mode, reward, progress, data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from palaestra import action
from palaestra.checker import check_env
from palaestra.env import make
from palaestra.envs.wordle import WordleEnv
from palaestra.envs.wordle.build import is_inflected
from palaestra.envs.wordle.expert import TABLE, Solver, best_guess, config_name
from palaestra.envs.wordle.words import (
    SOLVED,
    allowed,
    answer_tiers,
    answers,
    feedback,
    hard_mode_error,
    hard_mode_filter,
    render,
)
from palaestra.types import Step, Task

DICT = Path("/usr/share/dict")


def _env() -> WordleEnv:
    env = make("wordle")
    assert isinstance(env, WordleEnv)
    return env


def _task(answer: str, hard: bool = False, tier: int = 2) -> Task:
    return Task(
        env="wordle",
        id=f"t-{answer}",
        split="test",
        difficulty=3 if hard else tier,
        seed=0,
        params={"answer": answer, "max_tier": tier, "hard_mode": hard},
    )


async def _guess(env: WordleEnv, word: Any) -> Step:
    return await env.step(action("guess", word=word))


def test_check_env_expert_and_random() -> None:
    report = check_env("wordle", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.expert_reward >= 0.95
    assert report.random_success <= 0.2
    assert report.expert_success - report.random_success >= 0.7


@pytest.mark.parametrize(
    ("guess", "answer", "marks"),
    [
        ("crane", "crane", "G G G G G"),
        ("carom", "crane", "G Y Y - -"),
        ("bobby", "abbey", "Y - G - G"),  # third B gray: only two B's in ABBEY
        ("speed", "abide", "- - Y - Y"),  # second E gray: one E in ABIDE
        ("eerie", "there", "Y - Y - G"),  # the green E is matched first
        ("llama", "hello", "Y Y - - -"),
        ("hello", "llama", "- - Y Y -"),
    ],
)
def test_feedback_handles_repeated_letters(guess: str, answer: str, marks: str) -> None:
    assert render(guess, feedback(guess, answer)) == f"{guess.upper()} -> {marks}"


def test_feedback_is_all_green_only_for_the_answer() -> None:
    assert feedback("crane", "crane") == SOLVED
    assert feedback("crane", "crate") != SOLVED


async def test_valid_guess_reports_board_and_keyboard() -> None:
    env = _env()
    obs = await env.reset(_task("crane"))
    assert "6 guesses" in obs.text and "Hard mode is off" in obs.text
    step = await _guess(env, " Slate ")
    text = step.observation.text
    assert text.startswith("Guess 1 of 6: SLATE -> - - G - G")
    assert "Known positions: _ _ A _ E" in text
    assert "green: A E | yellow: none | gray: L S T | unused: B C D F" in text
    assert "5 guesses left." in text
    assert step.info == {"progress": 2 / 6, "success": False, "invalid_action": False, "guesses": 1}
    step = await _guess(env, "crank")
    assert "Board:\n  SLATE -> - - G - G\n  CRANK -> G G G G -" in step.observation.text
    assert step.info["progress"] == 5 / 6  # every letter known from two guesses, the word not yet guessed


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("cran", "'cran' is not a 5-letter word"),
        ("cranes", "'cranes' is not a 5-letter word"),
        ("cr4ne", "'cr4ne' is not a 5-letter word"),
        ("xqzvw", "XQZVW is not in the word list"),
    ],
)
async def test_invalid_guesses_do_not_use_a_guess(word: str, message: str) -> None:
    env = _env()
    await env.reset(_task("crane"))
    step = await _guess(env, word)
    assert step.info["invalid_action"] and step.info["guesses"] == 0 and not step.terminated
    assert message in step.observation.text and "did not use up a guess" in step.observation.text
    assert env.history == []


async def test_hard_mode_refuses_guesses_that_drop_hints() -> None:
    env = _env()
    obs = await env.reset(_task("serer", hard=True))
    assert "Hard mode is ON" in obs.text
    await _guess(env, "raise")  # R Y, S Y, E Y
    step = await _guess(env, "crane")
    assert step.info["invalid_action"] and env.history == [("raise", feedback("raise", "serer"))]
    assert "CRANE breaks hard mode: the guess must contain S" in step.observation.text
    step = await _guess(env, "sober")  # S G, E G, R G: legal
    assert not step.info["invalid_action"]
    step = await _guess(env, "rears")
    assert "letter 1 must be S" in step.observation.text and step.info["invalid_action"]


def test_hard_mode_counts_repeated_letters() -> None:
    history = [("eerie", feedback("eerie", "there"))]  # one E yellow, one E green
    assert hard_mode_error("three", history) is None
    assert hard_mode_error("shire", history) == "hard mode: the guess must contain E 2 times"
    assert hard_mode_filter(["three", "shire", "there"], history) == ["three", "there"]


async def test_normal_mode_accepts_any_allowed_word() -> None:
    env = _env()
    await env.reset(_task("crane"))
    await _guess(env, "crate")
    step = await _guess(env, "moody")  # drops every hint: fine outside hard mode
    assert not step.info["invalid_action"] and step.info["guesses"] == 2


async def test_success_reward_and_progress() -> None:
    env = _env()
    await env.reset(_task("crane"))
    await _guess(env, "slate")
    step = await _guess(env, "CRANE")
    assert step.terminated and step.reward == 1.0
    assert step.info == {"progress": 1.0, "success": True, "invalid_action": False, "guesses": 2}
    assert "Solved in 2 guesses!" in step.observation.text
    step = await _guess(env, "crane")
    assert step.info["invalid_action"] and "already over" in step.observation.text


async def test_six_wrong_guesses_lose_and_reveal_the_word() -> None:
    env = _env()
    await env.reset(_task("crane"))
    for word in ["xqzvw", "moody", "moody", "lumpy", "fight", "moody"]:
        step = await _guess(env, word)
        assert not step.terminated
    step = await _guess(env, "crank")
    assert step.terminated and not step.info["success"] and step.reward == 0.0
    assert "Guess 6 of 6" in step.observation.text and "the word was CRANE" in step.observation.text
    assert step.info["progress"] == 4 / 6


def test_difficulty_levels_and_word_split() -> None:
    env = _env()
    words: dict[str, set[str]] = {}
    for split in ("train", "test"):
        words[split] = set()
        for d in (1, 2, 3):
            tasks = env.tasks(split, 200, seed=3, difficulty=d)
            assert len({t.id for t in tasks}) == 200
            for t in tasks:
                assert t.params["hard_mode"] == (d == 3)
                assert answer_tiers()[t.params["answer"]] <= (1 if d == 1 else 2)
            words[split] |= {t.params["answer"] for t in tasks}
    assert not words["train"] & words["test"]  # a test word is never a train word, at any level
    tier2 = {w for w in words["test"] if answer_tiers()[w] == 2}
    assert tier2  # levels 2-3 do draw less common words


async def test_same_actions_same_observations() -> None:
    task = _env().tasks("test", 1, difficulty=3)[0]
    out = []
    for _ in range(2):
        env = _env()
        obs = await env.reset(task)
        texts = [obs.text]
        for word in ["raise", "crane", "ghost", "sober"]:
            texts.append((await _guess(env, word)).observation.text)
        out.append(texts)
    assert out[0] == out[1]


async def test_valid_actions_follow_the_rules() -> None:
    env = _env()
    await env.reset(_task("serer", hard=True))
    assert len(env.valid_actions()) == len(allowed())
    await _guess(env, "raise")
    calls = env.valid_actions()
    assert 0 < len(calls) < len(allowed())
    assert all(hard_mode_error(c.arguments["word"], env.history) is None for c in calls)
    assert any(c.arguments["word"] == "serer" for c in calls)


def test_word_lists_are_clean() -> None:
    tiers = answer_tiers()
    assert sum(t == 1 for t in tiers.values()) >= 2000 and len(tiers) <= 3000
    assert all(re.fullmatch("[a-z]{5}", w) for w in allowed())
    assert set(tiers) <= allowed() and len(allowed()) > 10_000
    assert list(tiers) == sorted(tiers)
    for word in ["crane", "about", "house", "light", "abbey"]:
        assert tiers[word] == 1
    stems = set(answers())
    assert not [w for w in tiers if is_inflected(w, stems)]
    assert "seals" in allowed() and "seals" not in tiers  # inflections are guesses, not answers


@pytest.mark.skipif(not (DICT / "american-english-huge").exists(), reason="needs Debian wamerican-*")
def test_word_lists_rebuild_from_scowl() -> None:
    from palaestra.envs.wordle.build import build

    found, more = build(DICT)
    assert found == answer_tiers()
    assert set(more) | set(found) == allowed()


def test_solver_table_matches_the_solver() -> None:
    table = json.loads(TABLE.read_text())
    assert set(table) == {config_name(1, False), config_name(2, False), config_name(2, True)}
    for name, hard in ((config_name(2, False), False), (config_name(2, True), True)):
        entry = table[name]
        opener = entry["opener"]
        checked = 0
        for code, second in sorted(entry["second"].items(), key=lambda kv: kv[0]):
            history = [(opener, int(code))]
            assert not hard or hard_mode_error(second, history) is None
            cands = [w for w in answers() if feedback(opener, w) == int(code)]
            if len(cands) <= 6 and checked < 3:  # cheap to recompute
                options = hard_mode_filter(answers(), history) if hard else answers()
                assert best_guess(options, cands) == second
                checked += 1
        assert checked == 3


def test_solver_wins_on_traps() -> None:
    for hard in (False, True):
        for answer in ["fight", "sassy", "mamma", "jazzy", "fuzzy", "queue"]:
            solver, history = Solver(2, hard), list[tuple[str, int]]()
            for _ in range(6):
                word = solver.guess(history)
                assert not hard or hard_mode_error(word, history) is None
                history.append((word, feedback(word, answer)))
                if history[-1][1] == SOLVED:
                    break
            assert history[-1] == (answer, SOLVED), (hard, answer, history)
