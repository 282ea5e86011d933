"""Core data types shared by every part of Palaestra.

They are plain pydantic models in the OpenAI chat shape, so any chat model and any chat-template
tokenizer takes a ``Message`` unchanged, and every object serialises to JSON for the store.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]
Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCall(_Base):
    """A call of one tool by the agent.

    ``arguments`` holds the decoded arguments. When a model produced arguments that are not a JSON
    object, ``arguments`` is empty and ``parse_error`` says what was wrong (the raw text is kept in
    ``raw_arguments``); the environment then answers with a format error instead of calling the tool.
    """

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str | None = None
    parse_error: str | None = None


class ToolSpec(_Base):
    """A tool as a model sees it: a name, a description and a JSON schema of its parameters."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    def openai(self) -> dict[str, Any]:
        """The tool in the OpenAI ``tools=[...]`` request format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class Message(_Base):
    """One chat message, in the OpenAI chat shape."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None


class Observation(_Base):
    """What an agent receives: the *new* messages since its last action and the tools it may call.

    The first observation of an episode carries the system prompt and the goal.
    """

    messages: list[Message] = Field(default_factory=list)
    tools: list[ToolSpec] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """All message contents joined, for agents and people that read plain text."""
        return "\n".join(m.content for m in self.messages if m.content)


class Step(_Base):
    """The result of one action: next observation, reward and whether the episode ended.

    ``info`` carries ``progress`` (0..1), ``success`` (bool) and ``invalid_action`` (bool).
    """

    observation: Observation
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = Field(default_factory=dict)


class Usage(_Base):
    """Tokens used by one or more model calls."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Task(_Base):
    """One problem instance of an environment, generated from a seed.

    ``id`` is unique within the environment and says which split it belongs to; the same task
    always produces the same episode given the same actions.
    """

    env: str
    id: str
    split: Split
    difficulty: int = 1
    seed: int
    params: dict[str, Any] = Field(default_factory=dict)

    def public(self) -> Task:
        """The task as a model-driven agent receives it: the parameters, which hold the answer
        (a secret number, the roles of a game), are withheld. Everything an agent may know comes
        from the env's observations."""
        return self.model_copy(update={"params": {}})
