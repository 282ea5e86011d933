"""The classical planners behind ``classical_planner``: pyperplan (a real planner library) or ours.

Backends:
- ``pyperplan``: pyperplan's A* with the LM-cut heuristic (optimal plans);
- ``pyperplan-gbfs``: pyperplan's greedy best-first search with the FF heuristic (fast, not optimal);
- ``builtin``: this package's A* with the domain's admissible heuristic (optimal, fast; no extra
  dependency);
- ``auto``: ``pyperplan`` when it is installed, else ``builtin``.

Every backend first reads the problem with this package's parser, so the errors an agent gets for
bad PDDL are the same whichever planner runs. Searches stop after a fixed number of generated states
(never a time limit), so the answer for a given problem is always the same. pyperplan runs in a
child process with a fixed hash seed (see ``pyperplan_worker.py``): in-process, the plan it picks
among equally short ones would change with the interpreter's string hash seed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from palaestra import UsageError
from palaestra.envs.planning.domain import DomainKit
from palaestra.envs.planning.pddl import parse_problem
from palaestra.envs.planning.strips import Grounded, Heuristic, SearchLimit, State, astar

BACKENDS = ("auto", "pyperplan", "pyperplan-gbfs", "builtin")
STATE_LIMIT = 50_000
"""States a search may generate before it gives up."""
WORKER_TIMEOUT = 1800.0
"""A safety net only: the state limit ends every search long before."""
_WORKER = Path(__file__).with_name("pyperplan_worker.py")


def pyperplan_available() -> bool:
    return importlib.util.find_spec("pyperplan") is not None


def resolve(backend: str) -> str:
    """The backend that ``backend`` names (``auto`` decided by what is installed)."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown planner {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "pyperplan" if pyperplan_available() else "builtin"
    if backend.startswith("pyperplan") and not pyperplan_available():
        raise UsageError(f"planner {backend!r} needs pyperplan: pip install pyperplan")
    return backend


@dataclass(frozen=True)
class PlanOutcome:
    plan: list[str] | None
    """PDDL action texts like ``(unstack b2 b1)``; None when no plan was found."""
    reason: str = ""
    """Why there is no plan: ``unsolvable``, ``limit``, or the planner's own error message."""


def solve(kit: DomainKit, problem_pddl: str, backend: str, limit: int = STATE_LIMIT) -> PlanOutcome:
    """Plan for ``problem_pddl`` in ``kit``'s domain; raises ``PDDLError`` for unreadable PDDL."""
    problem = parse_problem(problem_pddl, kit.domain)
    if backend != "builtin":
        return _pyperplan(kit.pddl, problem_pddl, optimal=backend == "pyperplan", limit=limit)
    g = Grounded(problem)
    try:
        found = astar(g, _guarded(kit.heuristic(g)), limit)
    except SearchLimit:
        return PlanOutcome(None, "limit")
    return PlanOutcome(None, "unsolvable") if found is None else PlanOutcome([a.text for a in found])


async def asolve(kit: DomainKit, problem_pddl: str, backend: str, limit: int = STATE_LIMIT) -> PlanOutcome:
    """``solve`` for the event loop: cancelling it (an episode's timeout) kills the planner process."""
    if backend == "builtin":
        return await asyncio.to_thread(solve, kit, problem_pddl, backend, limit)
    parse_problem(problem_pddl, kit.domain)
    request = {"domain": kit.pddl, "problem": problem_pddl, "optimal": backend == "pyperplan", "limit": limit}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(_WORKER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), WORKER_TIMEOUT)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        raise
    return _answer(proc.returncode or 0, out.decode(), err.decode())


def _guarded(h: Heuristic) -> Heuristic:
    """A heuristic that never raises: an agent's problem may be stranger than the generator's."""

    def safe(state: State) -> int:
        try:
            return h(state)
        except Exception:
            return 0

    return safe


def _pyperplan(domain_pddl: str, problem_pddl: str, optimal: bool, limit: int) -> PlanOutcome:
    request = {"domain": domain_pddl, "problem": problem_pddl, "optimal": optimal, "limit": limit}
    proc = subprocess.run(
        [sys.executable, str(_WORKER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        timeout=WORKER_TIMEOUT,
        check=False,
    )
    return _answer(proc.returncode, proc.stdout, proc.stderr)


def _answer(returncode: int, stdout: str, stderr: str) -> PlanOutcome:
    if returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or [f"exit status {returncode}"]
        return PlanOutcome(None, f"planner process failed: {tail[0]}")
    answer = json.loads(stdout)
    return PlanOutcome(answer["plan"], answer.get("reason", ""))
