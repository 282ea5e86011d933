"""Teacher-forced probe of a local model: how many of the expert's replies it would write itself.

    python scripts/probe_model.py MODEL_DIR [--envs guess crafting household maze] [--episodes 25]

Expert episodes on the test split are replayed through the model (one forward pass per training
sequence, the prompt cut as the ``local`` provider cuts it); a reply counts when greedy decoding
would reproduce every one of its tokens given the expert's history. Cheap next to playing episodes
(one forward pass per sequence), so a training run's checkpoints can be compared long before they
can solve an episode. A model that
only learned the reply format scores near 0 wherever the arguments must be read from the prompt
(guess, crafting). The household expert acts on knowledge the agent lacks (where things are), so
even a perfect agent matches it only in part.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from itertools import groupby
from pathlib import Path
from typing import Any


def expert_rows(env: str, episodes: int, seed: int, work: Path) -> list[dict[str, Any]]:
    """The expert's episodes on ``episodes`` test tasks of ``env``, as SFT export rows."""
    from palaestra.export import export
    from palaestra.runner.run import RunConfig, run
    from palaestra.store.sqlite import Store
    from palaestra.train.data import load_rows

    store = Store(work / f"{env}.db")
    run_id = asyncio.run(
        run(RunConfig(envs=[env], agent="expert", split="test", tasks=episodes, seed=seed), store)
    )
    export(store, [run_id], "sft", work / f"{env}.jsonl")
    return load_rows([work / f"{env}.jsonl"])


def exact_replies(model_dir: Path, rows: list[dict[str, Any]], max_prompt_tokens: int) -> tuple[int, int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from palaestra.train.data import sft_sequences

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()  # type: ignore[no-untyped-call]
    sequences, _, _ = sft_sequences(rows, tok, max_prompt_tokens)
    exact = total = 0
    for s in sequences:
        ids, mask = s["input_ids"], s["completion_mask"]
        with torch.no_grad():
            pred = model(torch.tensor([ids])).logits[0].argmax(-1).tolist()
        # each maximal run of loss tokens is one reply; token k is predicted at position k - 1
        for is_reply, span in groupby(range(1, len(ids)), key=lambda k: mask[k]):
            if is_reply:
                exact += all(pred[k - 1] == ids[k] for k in span)
                total += 1
    return exact, total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("--envs", nargs="+", default=["guess", "crafting", "household", "maze"])
    p.add_argument("--episodes", type=int, default=25, help="test episodes per environment")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    from palaestra.models.chat_format import model_settings

    budget = model_settings(args.model)["max_prompt_tokens"]
    with tempfile.TemporaryDirectory() as tmp:
        for env in args.envs:
            rows = expert_rows(env, args.episodes, args.seed, Path(tmp))
            exact, total = exact_replies(args.model, rows, budget)
            print(f"{env:10s} {exact:4d}/{total:<4d} expert replies reproduced ({exact / max(total, 1):.0%})")


if __name__ == "__main__":
    main()
