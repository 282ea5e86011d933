"""The ``local`` provider's prompts: the tokenizer's chat template renders the conversation (tool
calls in the Hermes format, see :mod:`palaestra.models.chat_format`), cut to ``max_prompt_tokens``."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from palaestra.chat import chat_messages, chat_tools
from palaestra.errors import ModelError
from palaestra.models.chat_format import fit_messages
from palaestra.models.local.engine import _describe
from palaestra.types import Message, ToolSpec

if TYPE_CHECKING:
    from palaestra.chat import ChatMessage


def prompt_ids(
    tokenizer: Any,
    tokenizer_lock: threading.Lock,
    messages: list[Message],
    tools: list[ToolSpec] | None,
    *,
    budget: int,
    name: str,
) -> list[int]:
    """The prompt's token ids: the chat template's rendering of the messages, with turns dropped
    from the middle until it fits ``budget`` tokens. Raises ModelError (naming the model ``name``)
    when even the head and the last turn do not fit."""
    chat = chat_messages(messages)
    tool_list = chat_tools(tools)
    # fit_messages only ever counts the head plus a tail, so a candidate's length names it
    rendered: dict[int, list[int]] = {}

    def render(msgs: list[ChatMessage]) -> list[int]:
        ids = rendered.get(len(msgs))
        if ids is None:
            ids = rendered[len(msgs)] = _render(tokenizer, tokenizer_lock, msgs, tool_list, name)
        return ids

    fitted = fit_messages(chat, lambda msgs: len(render(msgs)), budget)
    ids = render(fitted)
    if len(ids) > budget:
        raise ModelError(
            f"the prompt is {len(ids)} tokens even with only the first and the last turn; "
            f"{name} takes at most {budget} (max_prompt_tokens)"
        )
    return ids


def _render(
    tokenizer: Any,
    tokenizer_lock: threading.Lock,
    msgs: list[ChatMessage],
    tools: list[dict[str, Any]] | None,
    name: str,
) -> list[int]:
    try:
        with tokenizer_lock:
            ids = tokenizer.apply_chat_template(
                msgs, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False
            )
    except Exception as e:
        raise ModelError(f"{name}: the chat template failed: {_describe(e)}") from None
    return [int(i) for i in ids]
