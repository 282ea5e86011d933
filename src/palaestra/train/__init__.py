"""``palaestra train``: fine-tune a local model on ``palaestra export`` data (SFT or DPO) with TRL.

    from palaestra.train import TrainConfig, train_sft
    result = train_sft(["expert.jsonl"], "smollm2", "out/sft", TrainConfig(epochs=2))

The output directory is a plain model that ``local:OUT`` loads. Needs the ``train`` extra
(torch, transformers, trl, peft, datasets, accelerate), imported only when training starts.
"""

from __future__ import annotations

from palaestra.train.config import TrainConfig, TrainResult, make_config
from palaestra.train.data import dpo_examples, load_rows, prompt_counter, sft_examples, sft_sequences
from palaestra.train.trainer import train_dpo, train_sft

__all__ = [
    "TrainConfig",
    "TrainResult",
    "dpo_examples",
    "load_rows",
    "make_config",
    "prompt_counter",
    "sft_examples",
    "sft_sequences",
    "train_dpo",
    "train_sft",
]
