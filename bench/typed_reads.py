"""What typed episode reads cost: messages kept as JSON against messages validated as ``Message``.

    python bench/typed_reads.py [--episodes 40] [--steps 50] [--repeat 3]

It stores ``--episodes`` episodes of ``--steps`` steps each (a user or tool observation and an
assistant action with a tool call per step, as the tools agent stores them), then times, side by
side in one run (best of ``--repeat``):

* ``dict`` — ``Store.episode`` (the dict read);
* ``typed`` — ``Store.episode_detail`` (typed rows, messages as JSON);
* ``pydantic`` — ``episode_detail`` followed by validating every observation and action message
  as :class:`palaestra.Message` (what typed reads holding ``Message`` objects would add).

It prints the seconds of each and their ratios to ``dict``: the read store.rows.MessageJSON is
chosen on.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from palaestra import Store
from palaestra.records import EpisodeRecord, StepRecord
from palaestra.types import Message, Task, ToolCall


def _episode(i: int, steps: int) -> EpisodeRecord:
    task = Task(env="guess", id=f"t{i}", split="test", seed=i, params={"secret": i})
    rec = EpisodeRecord(id=f"guess/t{i}/0", task=task, agent="tools", model="mock", success=True, reward=1.0)
    for s in range(steps):
        seen = Message(role="user", content=f"Guess a number between 1 and 100. Attempt {s}. " * 3)
        if s:
            seen = Message(
                role="tool", content=f"{s * 7} is too low. Try again.", tool_call_id=f"c{s - 1}", name="guess"
            )
        call = ToolCall(id=f"c{s}", name="guess", arguments={"number": s * 7})
        act = Message(role="assistant", content="Halving the range.", tool_calls=[call])
        rec.steps.append(StepRecord(s, [seen], act, 0.0, {"progress": s / steps}))
    return rec


def _timed(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as st:
        st.create_run("r", {"envs": ["guess"]})
        for i in range(args.episodes):
            st.write_episode("r", _episode(i, args.steps))
        ids = [r.id for r in st.episode_rows("r")]

        def as_dicts() -> None:
            for i in ids:
                st.episode("r", i)

        def typed() -> None:
            for i in ids:
                st.episode_detail("r", i)

        def pydantic() -> None:
            for i in ids:
                for step in st.episode_detail("r", i).steps:
                    [Message.model_validate(m) for m in step.observation]
                    Message.model_validate(step.action)

        times = {
            name: _timed(fn, args.repeat)
            for name, fn in (("dict", as_dicts), ("typed", typed), ("pydantic", pydantic))
        }
    n = args.episodes * args.steps
    print(
        f"{args.episodes} episodes x {args.steps} steps ({n} steps, {2 * n} messages), best of {args.repeat}"
    )
    for name, t in times.items():
        print(f"{name:>9}: {t:.3f}s  {t / times['dict']:.2f}x dict")


if __name__ == "__main__":
    main()
