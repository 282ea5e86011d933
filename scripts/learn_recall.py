"""How fast a from-scratch model of nano's shape learns to look a word up in its context.

    python scripts/learn_recall.py [--layers 4] [--hidden 192] [--batch 32] [--lr 1e-3]
                                   [--steps 2000] [--keys 3] [--vocab 500] [--device cpu|cuda]

Every environment nano is meant to play needs content-addressed look-up: the item named in the
crafting goal, the object in the household task, the bounds in guess's feedback. This measures
that one skill in isolation, on the cheapest possible data: each example is ``k1 v1 k2 v2 ... SEP
kq`` (single-token keys and values drawn from ``--vocab`` ids, fresh every step) and the model must
answer ``vq``. A randomly initialised Llama (head size 32, MLP 8/3 wide, like nano) is trained on
the answer token alone with AdamW; every 250 steps it prints the loss and the accuracy on 512 new
examples. Chance is ``1/vocab``; a model that knows the answer is one of the values but not which
scores ``1/keys``. Judge a recipe here in minutes before spending hours on a full build.
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def batch(rng: random.Random, n: int, vocab: int, keys: int) -> torch.Tensor:
    sep = vocab
    rows = []
    for _ in range(n):
        ks = rng.sample(range(vocab), keys)
        vs = [rng.randrange(vocab) for _ in ks]
        q = rng.randrange(keys)
        rows.append([t for kv in zip(ks, vs, strict=True) for t in kv] + [sep, ks[q], vs[q]])
    return torch.tensor(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=192)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--keys", type=int, default=3)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    config = LlamaConfig(
        vocab_size=args.vocab + 1,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 32,
        num_key_value_heads=args.hidden // 32,
        intermediate_size=args.hidden * 8 // 3,
        max_position_embeddings=2 * args.keys + 3,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"{params / 1e6:.1f}M parameters on {args.device}; chance {1 / args.vocab:.3f}, "
        f"'one of the values' {1 / args.keys:.3f}"
    )
    test = batch(random.Random(args.seed + 1), 512, args.vocab, args.keys).to(args.device)
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        x = batch(rng, args.batch, args.vocab, args.keys).to(args.device)
        loss = torch.nn.functional.cross_entropy(model(x).logits[:, -2], x[:, -1])
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        if step % 250 == 0 or step == args.steps:
            with torch.no_grad():
                acc = (model(test).logits[:, -2].argmax(-1) == test[:, -1]).float().mean().item()
            print(
                f"step {step:6d}  loss {loss.item():.3f}  accuracy {acc:.3f}  "
                f"{time.perf_counter() - started:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
