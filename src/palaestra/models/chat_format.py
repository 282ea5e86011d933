"""How Palaestra talks to a local causal LM, shared by the ``local`` provider and ``palaestra train``.

- Messages go to a tokenizer's chat template in the OpenAI/Hugging Face chat shape
  (:func:`palaestra.chat.chat_messages`, tool-call arguments as objects).
- A model writes tool calls in the Hermes format that Qwen, Hermes, Llama-3-tool templates and
  vLLM's ``hermes`` parser use: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  (:func:`parse_reply` turns the text back into a :class:`Message`).
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
"""A chat template for small models trained from scratch on Palaestra's environments (``nano``).

It leaves out the system prompt and the tool schemas, which such a model learns from its training
data rather than reads, and keeps every prompt short. Tool calls are in the Hermes format."""

COMPACT_SPECIAL_TOKENS = ["<|pad|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|end|>"]
"""The special tokens :data:`COMPACT_TEMPLATE` uses; ``<|end|>`` ends a turn (the EOS token)."""


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

EMBEDDED = ("nano",)
"""Models shipped inside the package, under ``palaestra/models/<name>/``."""


def resolve_model_dir(name: str) -> Path:
    """The directory of a local model: an embedded name (``nano``) or a path. Never a hub id:
    nothing is downloaded. Raises :class:`UsageError` with one line when there is no model there."""
    if name in EMBEDDED:
        path = Path(__file__).parent / name
        if not (path / "config.json").is_file():
            raise UsageError(
                f"the embedded model {name!r} is not in this installation ({path}); "
                "build it with: python scripts/build_nano.py"
            )
        return path
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise UsageError(
            f"no local model at {name!r}: expected a directory with config.json and a tokenizer "
            "(models are never downloaded; embedded: " + ", ".join(EMBEDDED) + ")"
        )
    return path


def model_settings(path: Path) -> dict[str, int]:
    """``max_prompt_tokens`` and ``max_new_tokens`` for a model directory: from its
    ``palaestra.json`` where given, else the context length from ``config.json`` less 256 new tokens."""
    settings: dict[str, int] = {}
    f = path / SETTINGS_FILE
    if f.is_file():
        settings = {
            k: int(v)
            for k, v in json.loads(f.read_text()).items()
            if k in ("max_prompt_tokens", "max_new_tokens")
        }
    settings.setdefault("max_new_tokens", 256)
    if "max_prompt_tokens" not in settings:
        config = json.loads((path / "config.json").read_text())
        context = int(config.get("max_position_embeddings") or config.get("n_positions") or 2048)
        settings["max_prompt_tokens"] = max(16, context - settings["max_new_tokens"])
    return settings
