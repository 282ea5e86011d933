"""Maze: find the goal in a grid maze while seeing only a small window around you."""

from __future__ import annotations

from typing import Any, Literal

from palaestra import Env, EnvSpec, Task, ToolCall, ToolError, tool
from palaestra.envs.maze.expert import ShortestPath
from palaestra.envs.maze.tasks import FLOOR, GOAL, LEVELS, MAX_TURNS, WALL, bfs, generate

RADIUS = 2
"""The agent sees the squares up to this many steps away along each axis (a 5 x 5 window)."""

Direction = Literal["north", "east", "south", "west"]
DIRECTIONS: tuple[Direction, ...] = ("north", "east", "south", "west")
_MOVES = {d: ToolCall(id="move", name="move", arguments={"direction": d}) for d in DIRECTIONS}

INSTRUCTIONS = f"""\
You are in a maze drawn on a grid of squares, and you must walk to the goal square G.
You do not see the map. At the start and after every move or look you see the {2 * RADIUS + 1}x{2 * RADIUS + 1} window \
of squares centred on you, north at the top:
  @ you   # wall   . floor   G goal (shown only when it is inside your window)
Squares outside the map are shown as walls.
Positions are absolute (x, y) map coordinates: x is the column counted from the west edge, y the \
row counted from the north edge, both starting at 0 (the outer wall). Moving east adds 1 to x, \
moving south adds 1 to y.
Tools:
  move(direction)  step one square north, east, south or west. Walking into a wall is an invalid \
action: you stay where you are and are told which directions are open.
  look()           show your position and window again without moving.
Every reply you make is one turn, whether it moves you, looks, or fails; the goal text says how \
many turns you have. The episode ends when you step onto G (success) or run out of turns.
Nothing else changes in the maze, so remembering where you have been (your coordinates) helps."""


class MazeEnv(Env):
    spec = EnvSpec(
        name="maze",
        description="Walk through a grid maze to a goal, seeing only the squares around you.",
        max_steps=MAX_TURNS,
        difficulties=tuple(sorted(LEVELS)),
        metrics=("moves", "efficiency"),
        tags=("navigation", "partial-observability"),
    )

    # Episode state, set by setup(). Squares are indices into ``grid``, the map padded with RADIUS
    # rings of wall and flattened row by row, so the window never reaches past its ends.
    grid: str
    width: int
    offsets: dict[str, int]
    pos: int
    goal_at: int
    dist: list[int]
    """The oracle's map: shortest walking distance from each square to the goal (-1: wall)."""
    start_distance: int
    budget: int
    moves: int

    generate = staticmethod(generate)

    def setup(self, task: Task) -> str:
        rows: list[str] = task.params["rows"]
        (sx, sy), (gx, gy) = task.params["start"], task.params["goal"]
        r, width = RADIUS, len(rows[0]) + 2 * RADIUS
        pad = [WALL * width] * r
        grid = "".join([*pad, *(WALL * r + row + WALL * r for row in rows), *pad])
        self.width = width
        self.goal_at = (gy + r) * width + gx + r
        self.grid = grid[: self.goal_at] + GOAL + grid[self.goal_at + 1 :]
        self.offsets = {"north": -width, "east": 1, "south": width, "west": -1}
        self.dist = bfs(self.grid, width, self.goal_at)
        self.pos = (sy + r) * width + sx + r
        self.start_distance = self.dist[self.pos]
        self.budget = 2 * sum(row.count(FLOOR) for row in rows) + 10
        self.moves = 0
        return (
            f"Find the goal G at ({gx}, {gy}) in a maze of {len(rows[0])}x{len(rows)} squares. "
            f"You start at ({sx}, {sy}) and have {self.budget} turns.\n{self.status()}"
        )

    def instructions(self) -> str:
        return INSTRUCTIONS

    # ---- what the agent sees ------------------------------------------------------------------
    def xy(self, pos: int | None = None) -> tuple[int, int]:
        """Map coordinates of a square of the padded grid (the agent's by default)."""
        p = self.pos if pos is None else pos
        return p % self.width - RADIUS, p // self.width - RADIUS

    def open_directions(self) -> list[Direction]:
        return [d for d in DIRECTIONS if self.grid[self.pos + self.offsets[d]] != WALL]

    def window(self) -> str:
        w, p, r = self.width, self.pos, RADIUS
        lines = [self.grid[p + dy * w - r : p + dy * w + r + 1] for dy in range(-r, r + 1)]
        lines[r] = lines[r][:r] + "@" + lines[r][r + 1 :]
        return "\n".join(lines)

    def status(self) -> str:
        x, y = self.xy()
        view = self.window()
        seen = " The goal G is in view." if GOAL in view else ""
        return (
            f"You are at ({x}, {y}). Turns left: {self.budget - self.steps}.{seen}\n"
            f"{view}\nOpen: {', '.join(self.open_directions())}."
        )

    # ---- actions ------------------------------------------------------------------------------
    @tool
    def move(self, direction: Direction) -> str:
        """Step one square in a direction (north is up, towards y = 0).

        Args:
            direction: north, east, south or west.
        """
        nxt = self.pos + self.offsets[direction]
        if self.grid[nxt] == WALL:
            x, y = self.xy()
            raise ToolError(
                f"a wall blocks the way {direction} of ({x}, {y}); you did not move. "
                f"Open: {', '.join(self.open_directions())}."
            )
        self.pos = nxt
        self.moves += 1
        if nxt == self.goal_at:
            self.finish(success=True)
            x, y = self.xy()
            return f"You moved {direction} onto the goal at ({x}, {y}). You solved the maze in {self.moves} moves."
        return f"You moved {direction}. {self.status()}"

    @tool
    def look(self) -> str:
        """Show your position, the squares around you and the open directions, without moving."""
        return self.status()

    def valid_actions(self) -> list[ToolCall]:
        return [_MOVES[d] for d in self.open_directions()]

    # ---- turn budget, progress, metrics -------------------------------------------------------
    def step_info(self) -> dict[str, Any]:
        return {"moves": self.moves, "efficiency": self.start_distance / self.moves if self.success else 0.0}

    def progress(self) -> float:
        """Share of the start's shortest-path distance to the goal closed so far (not monotone)."""
        if self.success:
            return 1.0
        return max(0.0, 1.0 - self.dist[self.pos] / self.start_distance)

    expert_policy = ShortestPath
