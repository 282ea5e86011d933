"""The maze environment: contract, generator, rules, turn budget, progress and both policies."""

from __future__ import annotations

import random

import pytest

from palaestra import action
from palaestra.checker import check_env
from palaestra.envs.maze import MazeEnv
from palaestra.envs.maze.expert import Explorer
from palaestra.envs.maze.tasks import LEVELS, MAX_TURNS, bfs, generate
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import rollout
from palaestra.types import Message, Task

# A hand-made map: from (1, 1) the goal (5, 1) is 8 moves away through the top, 12 round the bottom.
ROWS = [
    "#######",
    "#...#.#",
    "#.#.#.#",
    "#.#...#",
    "#.###.#",
    "#.....#",
    "#######",
]
HAND = Task(
    env="maze",
    id="hand",
    split="test",
    difficulty=1,
    seed=0,
    params={"rows": ROWS, "start": [1, 1], "goal": [5, 1]},
)
BUDGET = 2 * 18 + 10  # 18 open squares


def move(direction: str) -> Message:
    return action("move", direction=direction)


async def started(task: Task = HAND) -> tuple[MazeEnv, str]:
    env = MazeEnv()
    obs = await env.reset(task)
    return env, obs.messages[1].content


def test_contract_expert_and_random() -> None:
    report = check_env("maze", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= 0.35
    assert report.expert_success - report.random_success >= 0.6
    for rec in report.episodes["expert"]:
        assert rec.steps[-1].info["efficiency"] == 1.0  # the oracle walks a shortest path
        assert rec.invalid_actions == 0


async def test_explorer_solves_every_task_from_observations_alone() -> None:
    env = MazeEnv()
    for task in env.tasks("test", 45, seed=7):
        rec = EpisodeRecord(id=task.id, task=task, agent="explorer", model="")
        fresh = MazeEnv()
        await rollout(fresh, Explorer(), task, record=rec)
        assert rec.success, task.id
        assert rec.invalid_actions == 0
        assert rec.n_steps <= 2 * (LEVELS[task.difficulty].open_squares - 1)


@pytest.mark.parametrize("difficulty", sorted(LEVELS))
def test_generated_mazes(difficulty: int) -> None:
    level = LEVELS[difficulty]
    for seed in range(40):
        p = generate(random.Random(seed), difficulty)
        rows, (sx, sy), (gx, gy) = p["rows"], p["start"], p["goal"]
        side = level.side
        assert len(rows) == side and {len(r) for r in rows} == {side}
        assert set("".join(rows)) == {"#", "."}
        assert rows[0] == rows[-1] == "#" * side and all(r[0] == r[-1] == "#" for r in rows)
        assert sum(r.count(".") for r in rows) == level.open_squares
        grid = "".join(rows)
        dist = bfs(grid, side, sy * side + sx)
        assert all(dist[i] >= 0 for i, c in enumerate(grid) if c == ".")  # one connected maze
        assert sx % 2 == sy % 2 == gx % 2 == gy % 2 == 1  # both in rooms
        assert 2 * dist[gy * side + gx] >= max(dist) > 0  # goal in the far half
        if level.loops == 0:  # a perfect maze is a tree: edges = squares - 1
            edges = sum(grid[i + 1] == "." for i, c in enumerate(grid) if c == ".")
            edges += sum(grid[i + side] == "." for i, c in enumerate(grid) if c == ".")
            assert edges == level.open_squares - 1
    assert generate(random.Random(3), difficulty) == generate(random.Random(3), difficulty)


def test_difficulty_scales_size_walls_and_budget() -> None:
    levels = [LEVELS[d] for d in sorted(LEVELS)]
    assert [lv.side for lv in levels] == sorted({lv.side for lv in levels})
    density = [1 - lv.open_squares / (lv.side - 2) ** 2 for lv in levels]
    assert density == sorted(density) and density[0] < density[-1]
    assert [lv.turns for lv in levels] == sorted(lv.turns for lv in levels)
    assert MAX_TURNS == MazeEnv.spec.max_steps == levels[-1].turns
    env = MazeEnv()
    mean = []
    for d in sorted(LEVELS):
        dists = []
        for task in env.tasks("test", 10, difficulty=d):
            env.setup(task)
            assert env.budget == LEVELS[d].turns
            dists.append(env.start_distance)
        mean.append(sum(dists) / len(dists))
    assert mean == sorted(mean)


def test_enough_distinct_tasks_in_every_split() -> None:
    env = MazeEnv()
    test = env.tasks("test", 200, difficulty=1)  # the smallest task space
    assert len({t.id for t in test}) == 200
    train = {t.id for t in env.tasks("train", 200, difficulty=1)}
    assert not train & {t.id for t in test}


async def test_first_observation_shows_window_position_and_budget() -> None:
    _, goal = await started()
    assert goal == (
        f"Find the goal G at (5, 1) in a maze of 7x7 squares. You start at (1, 1) and have {BUDGET} turns.\n"
        f"You are at (1, 1). Turns left: {BUDGET}.\n"
        "#####\n#####\n##@..\n##.#.\n##.#.\n"
        "Open: east, south."
    )


async def test_moves_walls_and_goal_in_view() -> None:
    env, _ = await started()
    step = await env.step(move("north"))
    assert step.info["invalid_action"] and not step.terminated
    assert step.observation.messages[0].content == (
        "Error: a wall blocks the way north of (1, 1); you did not move. Open: east, south."
    )
    assert env.xy() == (1, 1) and env.steps == 1  # the failed move still costs a turn
    step = await env.step(move("east"))
    assert not step.info["invalid_action"]
    assert step.observation.messages[0].content.startswith(
        f"You moved east. You are at (2, 1). Turns left: {BUDGET - 2}.\n"
    )
    assert "G" not in step.observation.text
    step = await env.step(move("east"))
    text = step.observation.messages[0].content
    assert "The goal G is in view." in text
    assert "\n..@#G\n" in text and text.endswith("Open: south, west.")
    assert [c.arguments["direction"] for c in env.valid_actions()] == ["south", "west"]
    bad = await env.step(action("move", direction="up"))
    assert bad.info["invalid_action"] and "direction" in bad.observation.text
    look = await env.step(action("look"))
    assert not look.info["invalid_action"] and "You are at (3, 1)." in look.observation.text
    assert env.xy() == (3, 1)


async def test_reaching_the_goal_succeeds_and_progress_follows_distance() -> None:
    env, _ = await started()
    assert env.start_distance == 8 and env.progress() == 0.0
    step = await env.step(move("south"))  # the long way round: 9 moves left, more than at the start
    assert step.info["progress"] == 0.0
    step = await env.step(move("north"))
    step = await env.step(move("east"))
    assert step.info["progress"] == pytest.approx(1 - 7 / 8)
    for d in ["east", "south", "south", "east", "east", "north"]:
        step = await env.step(move(d))
        assert not step.terminated
    assert step.info["progress"] == pytest.approx(1 - 1 / 8)
    step = await env.step(move("north"))
    assert step.terminated and step.info["success"] and step.reward == 1.0
    assert step.info["progress"] == 1.0
    assert step.info["moves"] == 10 and step.info["efficiency"] == pytest.approx(8 / 10)
    assert "onto the goal at (5, 1)" in step.observation.text
    after = await env.step(move("south"))
    assert after.info["invalid_action"] and "already over" in after.observation.text


async def test_running_out_of_turns_fails() -> None:
    env, _ = await started()
    for i in range(BUDGET - 2):
        step = await env.step(move("north") if i % 2 else Message(role="assistant", content="hmm"))
        assert not step.terminated and step.info["invalid_action"]
    step = await env.step(move("east"))
    assert not step.terminated and "Turns left: 1." in step.observation.text
    step = await env.step(move("west"))
    assert step.truncated and not step.terminated and not step.info["success"] and step.reward == 0.0
    assert step.observation.text.endswith("You are out of turns; the episode is over.")


async def test_same_actions_same_bytes_and_expert_policy() -> None:
    task = MazeEnv().tasks("test", 1, seed=11, difficulty=3)[0]
    texts = []
    for _ in range(2):
        env = MazeEnv()
        obs = await env.reset(task)
        expert = env.expert()
        await expert.reset(task)
        seen = [obs.model_dump_json()]
        while not env.done:
            step = await env.step(await expert.act(obs))
            obs = step.observation
            seen.append(step.model_dump_json())
        assert env.success and env.moves == env.start_distance
        texts.append("\n".join(seen))
    assert texts[0] == texts[1]
