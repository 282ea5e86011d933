"""The ``Model`` contract and the provider registry (``get_model("provider:name")``)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from palaestra.errors import UnknownNameError, UsageError
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
    timeout: float = 120.0
    """Seconds for one HTTP attempt (the whole call may take longer with retries)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Provider-specific request fields, passed through unchanged."""


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
_providers: dict[str, ProviderFactory] = {}
_discovered = False


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``get_model("name:...")`` build models with ``factory(rest_of_spec, **kwargs)``."""
    _providers[name] = factory


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    from palaestra.models import local, mock, openai  # noqa: F401  (they register themselves)

    for ep in entry_points(group="palaestra.models"):
        _providers.setdefault(ep.name, ep.load())


def provider_names() -> list[str]:
    _discover()
    return sorted(_providers)


def get_model(spec: str | Model, **kwargs: Any) -> Model:
    """A model from a spec such as ``openai:gpt-4o-mini``,
    ``openai:Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1`` or ``mock:replies.jsonl``."""
    if not isinstance(spec, str):
        return spec
    _discover()
    provider, sep, rest = spec.partition(":")
    if provider not in _providers:
        raise UnknownNameError("model provider", provider, _providers)
    if not sep and provider != "mock":
        raise UsageError(f"model spec {spec!r} needs a model name: {provider}:NAME")
    return _providers[provider](rest, **kwargs)
