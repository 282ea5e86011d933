"""Policies for the maze: the oracle ``ShortestPath`` and the observation-only ``Explorer``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from palaestra import Message, Observation, Policy, Task, action

if TYPE_CHECKING:
    from palaestra.envs.maze.env import MazeEnv

_DIRECTIONS = ("north", "east", "south", "west")
_STEP = {"north": (0, -1), "east": (1, 0), "south": (0, 1), "west": (-1, 0)}


class ShortestPath(Policy):
    """The oracle: reads the map's distance-to-goal table (computed once in ``setup``) and always
    steps to a neighbour one step closer, so it walks a shortest path."""

    env: MazeEnv

    def choose(self, observation: Observation) -> Message:
        env = self.env
        dist, here = env.dist, env.pos
        closer = dist[here] - 1
        for d in _DIRECTIONS:
            if dist[here + env.offsets[d]] == closer:
                return action("move", direction=d)
        return action("look")  # only reached after the episode ended


_GOAL = re.compile(r"goal G at \((\d+), (\d+)\)")
_AT = re.compile(r"You are at \((\d+), (\d+)\)")
_OPEN = re.compile(r"Open: ([a-z, ]*)\.")


class Explorer(Policy):
    """A depth-first search that uses only what the agent is shown: its coordinates, the open
    directions and the goal's coordinates. It steps to the unvisited open neighbour nearest to the
    goal as the crow flies, and backtracks from dead ends. It never walks an edge more than twice,
    so it visits every open square in at most 2 * (open squares - 1) moves: within every budget."""

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.goal = (0, 0)
        self.visited: set[tuple[int, int]] = set()
        self.trail: list[tuple[int, int]] = []

    def choose(self, observation: Observation) -> Message:
        text = observation.text
        if goal := _GOAL.search(text):
            self.goal = (int(goal[1]), int(goal[2]))
        at, opened = list(_AT.finditer(text)), list(_OPEN.finditer(text))
        if not at or not opened:
            return action("look")
        here = (int(at[-1][1]), int(at[-1][2]))
        if not self.trail or self.trail[-1] != here:
            self.trail.append(here)
        self.visited.add(here)
        gx, gy = self.goal
        fresh = []
        for d in opened[-1][1].split(", "):
            dx, dy = _STEP[d]
            nxt = (here[0] + dx, here[1] + dy)
            if nxt not in self.visited:
                fresh.append((abs(nxt[0] - gx) + abs(nxt[1] - gy), _DIRECTIONS.index(d), d))
        if fresh:
            return action("move", direction=min(fresh)[2])
        self.trail.pop()
        if not self.trail:
            return action("look")  # everything visited: cannot happen while the goal is unreached
        back = (self.trail[-1][0] - here[0], self.trail[-1][1] - here[1])
        return action("move", direction=next(d for d, s in _STEP.items() if s == back))
