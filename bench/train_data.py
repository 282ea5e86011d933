"""Data preparation for ``palaestra train``: cutting every turn's prompt to the model's budget.

    python bench/train_data.py [--episodes 40] [--budget 256,512] [--model DIR]

Expert episodes of maze, household, crafting and guess (train split, seed 0) are cut turn by turn
two ways on the same data in one run: the reference, :func:`fit_messages` called afresh for every
turn (a binary search over the cut, as the ``local`` provider does for one prompt), and the
incremental search :func:`palaestra.train.data.sft_split` uses, which resumes each turn's search
where the previous turn's ended. Prints, per budget, the token counts each made, their seconds, the
speed-up, and fails if the two cut any turn differently. The tokenizer is the micro model's (a
512-token byte-level BPE, so prompts are long in tokens) unless ``--model`` names a model directory.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from palaestra.chat import ChatMessage
from palaestra.export import export
from palaestra.runner.run import RunConfig, run
from palaestra.store.sqlite import Store
from palaestra.train.data import _fit, _turn_prompts, load_rows, prompt_counter


def episodes(work: Path, n: int) -> list[dict[str, Any]]:
    store = Store(work / "expert.db")
    runs = [
        asyncio.run(run(RunConfig(envs=[env], agent="expert", split="train", tasks=n, seed=0), store))
        for env in ("maze", "household", "crafting", "guess")
    ]
    export(store, runs, "sft", work / "expert.jsonl")
    return load_rows(work / "expert.jsonl")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=40, help="expert episodes per environment")
    p.add_argument("--budget", default="256,512", help="max_prompt_tokens values, comma-separated")
    p.add_argument("--model", type=Path, help="a model directory whose tokenizer to use")
    args = p.parse_args()

    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.model is None:
            from palaestra.testing.micro import build_micro_model

            args.model = build_micro_model(work / "micro", max_position_embeddings=4096)
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        rows = episodes(work, args.episodes)
    turns = sum(sum(m["role"] == "assistant" for m in r["messages"]) for r in rows)
    print(f"{len(rows)} episodes, {turns} assistant turns, tokenizer {args.model.name}")

    for budget in (int(b) for b in args.budget.split(",")):
        results = []
        for name in ("per turn", "incremental"):
            calls = 0
            prompts: list[list[ChatMessage] | None] = []
            t = time.perf_counter()
            for row in rows:
                messages: list[ChatMessage] = list(row["messages"])
                count = prompt_counter(tokenizer, row.get("tools") or None)

                def counted(msgs: list[ChatMessage], count: Any = count) -> int:
                    nonlocal calls
                    calls += 1
                    return int(count(msgs))

                if name == "per turn":
                    prompts += [
                        _fit(messages[:i], counted, budget)
                        for i, m in enumerate(messages)
                        if m["role"] == "assistant" and i > 0
                    ]
                else:
                    prompts += [prompt for _, prompt in _turn_prompts(messages, counted, budget)]
            results.append((name, calls, time.perf_counter() - t, prompts))
        (_, calls_a, secs_a, a), (_, calls_b, secs_b, b) = results
        if a != b:
            bad = sum(x != y for x, y in zip(a, b, strict=True))
            raise SystemExit(f"budget {budget}: the two methods cut {bad} turns differently")
        print(
            f"budget {budget:5d}: per turn {calls_a:6d} counts {secs_a:6.2f}s | incremental "
            f"{calls_b:6d} counts {secs_b:6.2f}s | {secs_a / secs_b:4.1f}x faster, same prompts"
            f" ({sum(p is None for p in a)} turns refused)"
        )


if __name__ == "__main__":
    main()
