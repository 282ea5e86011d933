"""Training examples from ``palaestra export`` files.

An SFT row (``--format sft``) is one whole episode; it becomes one prompt-completion example per
assistant turn (or per turn listed in its optional ``train_turns``) (:func:`sft_examples`): the prompt is every message before that turn, cut to the
model's prompt budget with :func:`~palaestra.models.chat_format.fit_messages` exactly as the
``local`` provider cuts it when the model acts, and the completion is that one assistant message.
The loss then covers only the model's own turns, each seen in the very context it will have at
inference. For training, :func:`sft_sequences` tokenizes them, the uncut first turns of an
episode sharing one sequence.

Assistant turns whose tool call did not parse keep the model's raw text as the call's ``arguments``
(a string). ``palaestra export`` writes only successful episodes by default, which rarely hold such
turns; they are kept as they are (an export with ``--filter all`` trains on them too).

A DPO row (``--format dpo``) has ``prompt``, ``chosen`` and ``rejected``; its prompt is cut the same
way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from palaestra.chat import ChatMessage
from palaestra.errors import UsageError
from palaestra.models.chat_format import fit_messages

JSON_COLUMNS = ("messages", "tools", "prompt", "chosen", "rejected")
"""Columns holding messages or tools (JSON text in Parquet files)."""

Example = dict[str, Any]


def _paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


def check_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """The data files, each an existing ``.jsonl`` or ``.parquet`` file (else one UsageError line)."""
    files = _paths(paths)
    if not files:
        raise UsageError("name at least one data file (from `palaestra export`)")
    for f in files:
        if not f.is_file():
            raise UsageError(f"no such data file: {f}")
        if f.suffix.lower() not in (".jsonl", ".parquet"):
            raise UsageError(
                f"cannot read {f}: data files are FILE.jsonl or FILE.parquet from `palaestra export`"
            )
    return files


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_COLUMNS:
        value = row.get(key)
        if isinstance(value, str):
            row[key] = json.loads(value)
        elif isinstance(value, list):
            row[key] = [json.loads(v) if isinstance(v, str) else v for v in value]
    return row


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(
            f"reading {path} needs pyarrow: pip install 'palaestra[export]' (or export FILE.jsonl)"
        ) from None
    try:
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    except Exception as e:
        raise UsageError(f"cannot read {path} as Parquet: {e}") from None
    return rows


def load_rows(paths: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every row of one or more export files (``.jsonl`` or ``.parquet``), in order, with the
    message and tool columns as Python objects."""
    rows: list[dict[str, Any]] = []
    for path in check_files(paths):
        if path.suffix.lower() == ".parquet":
            raw = _read_parquet(path)
        else:
            raw = []
            with path.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        raw.append(json.loads(line))
                    except ValueError as e:
                        raise UsageError(f"{path}:{n}: not a JSON line ({e})") from None
        for n, row in enumerate(raw, 1):
            if not isinstance(row, dict):
                raise UsageError(f"{path}: row {n} is not a JSON object")
            try:
                rows.append(_decode(row))
            except ValueError as e:
                raise UsageError(f"{path}: row {n} holds invalid JSON ({e})") from None
    return rows


def prompt_counter(tokenizer: Any, tools: list[dict[str, Any]] | None) -> Callable[[list[ChatMessage]], int]:
    """Tokens of a prompt as the model reads it before it acts: the chat template applied with
    ``tools`` and the generation prompt (the count the ``local`` provider budgets)."""

    def count(messages: list[ChatMessage]) -> int:
        ids = tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    return count


def _tools(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = row.get("tools")
    return list(tools) if tools else None


KEYS = {"sft": ("messages",), "dpo": ("prompt", "chosen", "rejected")}


def check_rows(rows: Sequence[dict[str, Any]], kind: str) -> None:
    """Refuse rows of another export format (one UsageError line naming the first bad row)."""
    _require(rows, KEYS[kind], kind)


def _require(rows: Sequence[dict[str, Any]], keys: tuple[str, ...], kind: str) -> None:
    for n, row in enumerate(rows, 1):
        missing = [k for k in keys if not isinstance(row.get(k), list)]
        if missing:
            raise UsageError(
                f"row {n} is not a {kind.upper()} row (no {', '.join(missing)}); "
                f"make the data with: palaestra export RUN --format {kind} --out FILE.jsonl"
            )


def _fit(
    messages: list[ChatMessage], count: Callable[[list[ChatMessage]], int], budget: int
) -> list[ChatMessage] | None:
    """The prompt cut to ``budget`` as the provider cuts it, or None when it cannot fit (the
    provider refuses such a prompt, so the model never acts there)."""
    cut = fit_messages(messages, count, budget)
    return cut if count(cut) <= budget else None


def _turn_prompts(
    messages: list[ChatMessage], count: Callable[[list[ChatMessage]], int], budget: int
) -> Iterator[tuple[int, list[ChatMessage] | None]]:
    """``(i, prompt)`` for every assistant turn ``i`` but a leading one: the messages before it as
    :func:`_fit` cuts them, in a fraction of the token counts.

    The same result as calling :func:`_fit` per turn, under the assumption :func:`fit_messages`
    already makes, that more messages never render to fewer tokens: once a prefix is too long so
    are all later ones, and a turn's smallest fitting cut is never before the previous turn's (its
    tail holds the previous tail and more). So the search for the cut resumes where the previous
    turn's ended, about two counts per turn instead of a binary search per turn, which is what
    makes data preparation for long episodes fast."""
    head = 0
    while head < len(messages) and messages[head].get("role") == "system":
        head += 1
    if head < len(messages) and messages[head].get("role") == "user":
        head += 1
    whole = True  # the prefixes have fit uncut so far
    cut = head  # no turn fits with a tail starting before this message
    for i, m in enumerate(messages):
        if m.get("role") != "assistant" or i == 0:
            continue
        if whole:
            if count(messages[:i]) <= budget:
                yield i, messages[:i]
                continue
            whole = False
        while cut < i and (
            messages[cut].get("role") == "tool" or count(messages[:head] + messages[cut:i]) > budget
        ):
            cut += 1
        yield i, (messages[:head] + messages[cut:i] if cut < i else None)


TRAIN_TURNS = "train_turns"
"""Optional SFT row key: the indices in ``messages`` of the assistant turns to train on (default:
all of them). ``palaestra train dagger`` writes rows whose history holds the model's own turns and
whose last turn is the expert's label, the only one trained on."""


def _train_turns(row: dict[str, Any]) -> set[int] | None:
    turns = row.get(TRAIN_TURNS)
    if turns is None:
        return None
    if not isinstance(turns, list) or not all(isinstance(i, int) for i in turns):
        raise UsageError(f"{TRAIN_TURNS} must be a list of message indices, got {turns!r}")
    return set(turns)


def sft_split(
    rows: Sequence[dict[str, Any]], tokenizer: Any, max_prompt_tokens: int
) -> tuple[list[Example], int]:
    """:func:`sft_examples` and how many assistant turns were left out because their prompt does
    not fit in ``max_prompt_tokens`` even when cut."""
    _require(rows, ("messages",), "sft")
    examples: list[Example] = []
    skipped = 0
    for row in rows:
        messages: list[ChatMessage] = list(row["messages"])
        tools = _tools(row)
        count = prompt_counter(tokenizer, tools)
        only = _train_turns(row)
        for i, prompt in _turn_prompts(messages, count, max_prompt_tokens):
            if only is not None and i not in only:
                continue
            if prompt is None:
                skipped += 1
                continue
            examples.append({"prompt": prompt, "completion": [messages[i]], "tools": tools})
    return examples, skipped


def sft_examples(rows: Sequence[dict[str, Any]], tokenizer: Any, max_prompt_tokens: int) -> list[Example]:
    """Prompt-completion examples (TRL's conversational format) from SFT export rows: one per
    assistant turn, ``prompt`` the messages before it cut to ``max_prompt_tokens`` tokens as the
    ``local`` provider cuts them, ``completion`` that assistant message, ``tools`` the row's tools
    (None when it has none). Turns whose prompt cannot fit even when cut are left out."""
    return sft_split(rows, tokenizer, max_prompt_tokens)[0]


def dpo_split(
    rows: Sequence[dict[str, Any]], tokenizer: Any, max_prompt_tokens: int
) -> tuple[list[Example], int]:
    """:func:`dpo_examples` and how many pairs were left out because their prompt cannot fit."""
    _require(rows, ("prompt", "chosen", "rejected"), "dpo")
    examples: list[Example] = []
    skipped = 0
    for row in rows:
        if not row["prompt"] or not row["chosen"] or not row["rejected"]:
            skipped += 1
            continue
        tools = _tools(row)
        prompt = _fit(list(row["prompt"]), prompt_counter(tokenizer, tools), max_prompt_tokens)
        if prompt is None:
            skipped += 1
            continue
        examples.append(
            {
                "prompt": prompt,
                "chosen": list(row["chosen"]),
                "rejected": list(row["rejected"]),
                "tools": tools,
            }
        )
    return examples, skipped


def dpo_examples(rows: Sequence[dict[str, Any]], tokenizer: Any, max_prompt_tokens: int) -> list[Example]:
    """Preference examples (TRL's conversational format with an explicit prompt) from DPO export
    rows, each prompt cut to ``max_prompt_tokens`` tokens as the ``local`` provider cuts it."""
    return dpo_split(rows, tokenizer, max_prompt_tokens)[0]


def _render(tokenizer: Any, messages: list[ChatMessage], tools: Any, generation: bool = False) -> str:
    return str(
        tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=generation)
    )


def _tokenize_turns(
    tokenizer: Any, messages: list[ChatMessage], turns: list[int], tools: Any
) -> dict[str, list[int]] | None:
    """``messages`` rendered and tokenized whole, ``completion_mask`` 1 on the tokens of the
    assistant messages at ``turns`` (their text from the generation prompt to the end of the
    message, what the model writes when it acts). None when the chat template does not render a
    conversation as the prefix of its continuation (it rewrites earlier turns), so turns cannot
    share a sequence."""
    full = _render(tokenizer, messages, tools)
    spans: list[tuple[int, int]] = []
    for i in turns:
        start = _render(tokenizer, messages[:i], tools, generation=True)
        end = full if i + 1 == len(messages) else _render(tokenizer, messages[: i + 1], tools)
        if not (end.startswith(start) and full.startswith(end)):
            return None
        spans.append((len(start), len(end)))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(a <= s < b for a, b in spans)) for s, _ in enc["offset_mapping"]]
    return {"input_ids": list(enc["input_ids"]), "completion_mask": mask}


def sft_sequences(
    rows: Sequence[dict[str, Any]], tokenizer: Any, max_prompt_tokens: int
) -> tuple[list[dict[str, list[int]]], int, int]:
    """The examples of :func:`sft_split` as token sequences to train on, ``(sequences, turns,
    skipped)``: ``input_ids`` and a ``completion_mask`` over the tokens the loss covers.

    Turns whose prompt fits uncut (the first ones of every episode) share one sequence, the
    conversation up to the last of them, with the loss on each of their replies: under causal
    attention every reply is predicted from exactly the tokens before it, the prompt the model
    has when it acts, so the loss is the sum of the per-turn losses at a fraction of the compute
    (one forward pass instead of one per turn over ever longer prompts). Later turns, whose prompt
    is cut, get a sequence each. ``turns`` counts the replies trained on."""
    sequences: list[dict[str, list[int]]] = []
    turns = skipped = 0
    for row in rows:
        examples, left_out = sft_split([row], tokenizer, max_prompt_tokens)
        skipped += left_out
        turns += len(examples)
        messages: list[ChatMessage] = list(row["messages"])
        uncut = [e for e in examples if e["prompt"] == messages[: len(e["prompt"])]]
        shared = None
        if len(uncut) > 1:
            last = len(uncut[-1]["prompt"])
            shared = _tokenize_turns(
                tokenizer, messages[: last + 1], [len(e["prompt"]) for e in uncut], uncut[0]["tools"]
            )
        if shared is not None:
            sequences.append(shared)
            examples = examples[len(uncut) :]
        for e in examples:
            one = _tokenize_turns(tokenizer, e["prompt"] + e["completion"], [len(e["prompt"])], e["tools"])
            if one is None:  # a single reply renders after its prompt in any usable template
                raise UsageError("the chat template does not render a reply after its prompt")
            sequences.append(one)
    return sequences, turns, skipped
