"""The ``Model`` contract and the provider registry (``get_model("provider:name")``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from palaestra.errors import ModelError, UsageError
from palaestra.registry import Registry
from palaestra.types import Message, ToolSpec, Usage


class GenerateConfig(BaseModel):
    """Sampling and call settings for one generation."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 1
    """With ``logprobs``: alternatives per token to ask for. Servers such as llama.cpp return no
    logprobs at all unless ``top_logprobs`` is sent, so it always is (1 costs next to nothing)."""
    tool_choice: str | dict[str, Any] | None = "auto"
    """Sent whenever tools are: some servers (llama-cpp-python) leave tools out of the prompt
    without it. ``None`` sends none; ``"required"``, ``"none"`` or a function choice as the API takes."""
    stream: bool = False
    """Ask for a streamed reply (server-sent events); the time to the first token is then recorded."""
    timeout: float = 120.0
    """Seconds for one HTTP attempt (the whole call may take longer with retries)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Provider-specific request fields, passed through unchanged (``stream`` sets :attr:`stream`)."""


class ModelOutput(BaseModel):
    """One model reply with what it cost."""

    model_config = ConfigDict(extra="forbid")

    message: Message
    usage: Usage = Field(default_factory=Usage)
    latency: float = 0.0
    """Seconds from the first attempt to the reply, retries included."""
    cost: float | None = None
    retries: int = 0
    finish_reason: str | None = None
    token_ids: list[int] | None = None
    """Ids of the generated tokens, when the server returns them (vLLM ``return_token_ids``)."""
    logprobs: list[float] | None = None
    prompt_token_ids: list[int] | None = None
    """Ids of the prompt as the server tokenised it, when returned (for exact RL training data)."""
    model: str = ""
    ttft: float | None = None
    """Seconds from sending the request to the first generated token (streamed replies only)."""


class ContextOverflowError(ModelError):
    """The conversation no longer fits the model's context window (the server said so).

    Not a server failure: the episode ends as ``truncated`` with this reason, and a resumed run does
    not repeat it (it would overflow again)."""


@runtime_checkable
class Model(Protocol):
    """Anything that turns a conversation into the next assistant message."""

    name: str
    max_concurrency: int
    """How many calls it can serve at once; the runner sizes its concurrency from this."""

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput: ...

    async def close(self) -> None: ...


ProviderFactory = Callable[..., Model]

PROVIDERS: Registry[ProviderFactory] = Registry("model provider", "palaestra.models")
"""Every model provider by name (the part of a model spec before the first colon)."""
PROVIDERS.register("openai", "palaestra.models.openai:_factory")
PROVIDERS.register("local", "palaestra.models.local:_factory")
PROVIDERS.register("mock", "palaestra.models.mock:_factory")


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``get_model("name:...")`` build models with ``factory(rest_of_spec, **kwargs)``."""
    PROVIDERS.register(name, factory)


def get_model(spec: str | Model, **kwargs: Any) -> Model:
    """A model from a spec such as ``openai:gpt-4o-mini``,
    ``openai:Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1`` or ``mock:replies.jsonl``."""
    if not isinstance(spec, str):
        return spec
    provider, sep, rest = spec.partition(":")
    factory = PROVIDERS.get(provider)
    if not sep and provider not in ("mock", "local"):  # `local` alone: its default base
        raise UsageError(f"model spec {spec!r} needs a model name: {provider}:NAME")
    return factory(rest, **kwargs)
