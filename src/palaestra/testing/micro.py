"""A micro causal LM built offline in a second, for tests of the ``local`` provider and training.

``build_micro_model(path)`` writes a directory that ``local:PATH`` and ``transformers`` load like any
model: a byte-level BPE tokenizer trained on a few strings (digits split one by one), with the
compact chat template (:data:`~palaestra.models.chat_format.COMPACT_TEMPLATE`) and its special
tokens (``<|end|>`` is the EOS token, ``<|pad|>`` the pad token; ``<tool_call>``/``</tool_call>`` are
ordinary added tokens, kept when text is decoded), and a randomly initialised Llama (seeded, so the
same call always writes the same weights). Nothing is downloaded.

Needs ``torch``, ``transformers`` and ``tokenizers`` (imported when a model is built).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXTRA_TOKENS = ("<tool_call>", "</tool_call>")
"""Added as ordinary (non-special) tokens, as Hermes-format models have them."""

DEFAULT_CORPUS = (
    "I am thinking of an integer between 0 and 99. Guess it.",
    "50 is too low. The number is higher. 75 is too high. The number is lower.",
    '<tool_call>{"name": "guess", "arguments": {"number": 42}}</tool_call>',
    '<tool_call>{"name": "move", "arguments": {"direction": "north"}}</tool_call>',
    "Error: unknown tool. Call one of the tools with valid JSON arguments.",
    "The quick brown fox jumps over the lazy dog; you win, you lose, try again!",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 {}[]():;,.?!'\"-_/+=*<>|\n",
)
"""Text the tokenizer is trained on when no corpus is given: environment prose and tool calls."""

VOCAB_SIZE = 512


def build_micro_model(
    path: str | Path,
    *,
    hidden: int = 32,
    layers: int = 1,
    corpus: Sequence[str] | None = None,
    max_position_embeddings: int = 512,
) -> Path:
    """Write a micro model (tokenizer, config and random weights) to ``path`` and return it.

    ``hidden`` is the model width (4 attention heads, an MLP twice as wide), ``layers`` its depth,
    ``corpus`` the texts the tokenizer learns its merges from (default :data:`DEFAULT_CORPUS`; every
    byte can be encoded whatever the corpus). The vocabulary has at most 512 tokens.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from palaestra.models.chat_format import COMPACT_SPECIAL_TOKENS, COMPACT_TEMPLATE

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    texts = list(DEFAULT_CORPUS if corpus is None else corpus)
    for s in (*COMPACT_SPECIAL_TOKENS, *EXTRA_TOKENS):  # added whole, not learned from text
        texts = [t.replace(s, "\n") for t in texts]

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(EXTRA_TOKENS),
        special_tokens=list(COMPACT_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast_class: Any = PreTrainedTokenizerFast  # untyped in some transformers versions
    fast = fast_class(
        tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>", bos_token=None, unk_token=None
    )
    fast.add_tokens(list(EXTRA_TOKENS))
    fast.chat_template = COMPACT_TEMPLATE
    fast.model_max_length = max_position_embeddings
    fast.save_pretrained(out)

    heads = 4 if hidden % 4 == 0 else 1
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    return out
