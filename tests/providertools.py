"""What the ``openai`` provider's tests share: a conversation, a tool and a model with fast retries."""

from __future__ import annotations

from typing import Any

from palaestra.models.base import GenerateConfig
from palaestra.models.openai import OpenAIModel
from palaestra.testing import FakeOpenAIServer
from palaestra.types import Message, ToolSpec

USER = [Message(role="user", content="hello there, model")]
GUESS = [
    ToolSpec(
        name="guess",
        description="guess a number",
        parameters={"type": "object", "properties": {"n": {"type": "integer"}}},
    )
]
CFG = GenerateConfig()


def fast_model(srv: FakeOpenAIServer, **kw: Any) -> OpenAIModel:
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("backoff_max", 0.01)
    return OpenAIModel("fake", base_url=srv.base_url, api_key="sk-test", **kw)
