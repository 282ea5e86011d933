"""Generation throughput of the ``local`` provider: one call at a time vs many in flight (batched).

    python bench/local_throughput.py [--model nano|DIR] [--requests 64] [--max-tokens 48]
                                     [--concurrency 1,16,64] [--threads N] [--device cpu|cuda]

The same ``--requests`` prompts (guess-the-number conversations of different lengths) are generated
at each concurrency level, greedily, ``--max-tokens`` tokens at most each. Prints, per level, the
generated tokens per second, its ratio to concurrency 1, the mean batch size the worker formed and
the forward passes it made. The model is ``nano`` when it is installed, else a randomly initialised
Llama of nano's size (vocab 2048, hidden 192, 4 layers, 6 heads, MLP 512, context 1024) with the
micro tokenizer (a random model rarely writes the end-of-turn token, so its replies run to
``--max-tokens``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig
from palaestra.models.chat_format import resolve_model_dir
from palaestra.models.local import LocalModel
from palaestra.types import Message, ToolCall


def random_nano(path: Path) -> Path:
    """A random-weight Llama of nano's size with the micro tokenizer, in ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from palaestra.testing.micro import build_micro_model

    build_micro_model(path, max_position_embeddings=1024)  # tokenizer (and a micro model, replaced)
    config = LlamaConfig(
        vocab_size=2048,
        hidden_size=192,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=6,
        num_key_value_heads=6,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=4,  # <|end|>
        bos_token_id=None,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def conversations(n: int) -> list[list[Message]]:
    """Guess-the-number conversations with 0 to 5 earlier guesses (prompts of different lengths)."""
    rng = random.Random(0)
    out = []
    for _ in range(n):
        low = rng.randrange(0, 10_000)
        high = low + 999
        msgs = [
            Message(role="user", content=f"I am thinking of an integer between {low} and {high}. Guess it.")
        ]
        for k in range(rng.randint(0, 5)):
            guess = rng.randint(low, high)
            call = ToolCall(id=f"c{k}", name="guess", arguments={"number": guess})
            msgs.append(Message(role="assistant", tool_calls=[call]))
            msgs.append(
                Message(
                    role="tool", content=f"{guess} is too low. The number is higher.", tool_call_id=call.id
                )
            )
        out.append(msgs)
    return out


async def measure(
    model: LocalModel, prompts: list[list[Message]], concurrency: int, config: GenerateConfig
) -> tuple[int, float, float, int]:
    """(generated tokens, seconds, mean batch size, forward passes) for all prompts at ``concurrency``."""
    sem = asyncio.Semaphore(concurrency)
    batches, rows, forwards = model.stats.batches, model.stats.rows, model.stats.forward_passes

    async def one(msgs: list[Message]) -> int:
        async with sem:
            out = await model.generate(msgs, None, config)
            return len(out.token_ids or [])

    start = time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(p) for p in prompts)))
    seconds = time.perf_counter() - start
    n_batches = model.stats.batches - batches
    mean_batch = (model.stats.rows - rows) / max(1, n_batches)
    return tokens, seconds, mean_batch, model.stats.forward_passes - forwards


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="nano or a model directory (default: nano if installed)")
    p.add_argument("--requests", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        spec = args.model
        if spec is None:
            try:
                resolve_model_dir("nano")
                spec = "nano"
            except UsageError:
                spec = str(random_nano(Path(tmp) / "random-nano"))
        label = spec if spec == "nano" or args.model else "random-init nano-size Llama"
        model = LocalModel(spec, device=args.device, threads=args.threads)
        import torch

        params = sum(p.numel() for p in model.hf_model.parameters())
        print(
            f"model: {label} ({params / 1e6:.1f}M parameters) on {model.device}, "
            f"torch threads {torch.get_num_threads()}; {args.requests} requests, "
            f"greedy, at most {args.max_tokens} new tokens each"
        )
        prompts = conversations(args.requests)
        config = GenerateConfig(temperature=0, max_tokens=args.max_tokens)
        await model.generate(prompts[0], None, config)  # warm-up
        lengths = sorted(len(model.prompt_ids(m, None)) for m in prompts)
        print(f"prompt tokens: min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}")
        print(
            f"{'concurrency':>11} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'ratio':>6} {'batch':>6} {'forwards':>9}"
        )
        base = None
        for c in levels:
            tokens, seconds, batch, forwards = await measure(model, prompts, c, config)
            rate = tokens / seconds
            base = base or rate
            print(
                f"{c:>11} {tokens:>7} {seconds:>8.2f} {rate:>9.0f} {rate / base:>5.1f}x {batch:>6.1f} {forwards:>9}"
            )
        await model.close()


if __name__ == "__main__":
    asyncio.run(main())
