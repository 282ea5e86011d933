"""What a run stores of its settings, and what stays in the process that runs it.

Every config that is written with its run (``RunConfig``, ``MatchConfig``, ``TournamentConfig``)
derives from :class:`StoredConfig`. Its ``model_options`` are what ``get_model`` receives; the
runtime-only ones among them (credentials) are used while the run runs but are never serialised, so
no ``model_dump`` of a config, and so nothing in the store, ``runs --json`` or the viewer, carries
them. ``--resume`` takes them again from the command line or the environment (``$OPENAI_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_serializer,
    model_validator,
)
from pydantic_core import ErrorDetails

from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig

RUNTIME_ONLY: frozenset[str] = frozenset({"api_key"})
"""``model_options`` keys that are never written anywhere (credentials)."""


def persisted(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without the runtime-only entries: what may be stored."""
    return {k: v for k, v in options.items() if k not in RUNTIME_ONLY}


def shown(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config as it may be shown: without runtime-only options that a store written before
    they were kept out may still hold (``runs --json``, ``show --json``, the viewer)."""
    options = config.get("model_options")
    if not isinstance(options, dict) or RUNTIME_ONLY.isdisjoint(options):
        return config
    return {**config, "model_options": persisted(options)}


class SamplingBounds(BaseModel):
    """The bounds of a run's sampling settings. ``GenerateConfig`` itself takes any value (a provider
    answers a bad one with a ``ModelError``); a run's config is checked against these up front."""

    model_config = ConfigDict(extra="ignore")

    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    timeout: float = Field(120.0, gt=0)


class StoredConfig(BaseModel):
    """Base of the configs stored with a run; fields' bounds are checked here, once, for every command."""

    model_config = ConfigDict(extra="forbid")

    model_options: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of ``get_model`` (base URL, key, ...); the key is used, never serialised."""
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    """Sampling settings of every model call (checked against :class:`SamplingBounds`)."""

    FLAGS: ClassVar[dict[str, str]] = {}
    """Command-line flags whose name differs from their field's (``max_steps`` -> ``--max-rounds``)."""

    def with_options(self, options: Mapping[str, Any]) -> Self:
        """A copy with ``options`` over its model options: a resumed run's key (never stored) and
        any option given again on the command line."""
        return self.model_copy(update={"model_options": {**self.model_options, **options}})

    @field_serializer("model_options")
    def _without_credentials(self, options: dict[str, Any]) -> dict[str, Any]:
        return persisted(options)

    @model_validator(mode="wrap")
    @classmethod
    def _one_line(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A value out of bounds is one :class:`UsageError` line naming the flag, for every command."""
        try:
            config = handler(data)
        except ValidationError as e:
            raise UsageError(describe(e.errors()[0], cls.FLAGS)) from None
        try:
            SamplingBounds.model_validate(config.generate.model_dump())
        except ValidationError as e:
            raise UsageError(describe(e.errors()[0], {"timeout": "--request-timeout"})) from None
        return config


_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def describe(error: ErrorDetails, flags: Mapping[str, str]) -> str:
    """One line for one pydantic error: ``--top-p must be at most 1, got 2.0``."""
    field = str(error["loc"][-1]) if error["loc"] else "config"
    flag = flags.get(field, "--" + field.replace("_", "-"))
    bound = _BOUNDS.get(error["type"])
    ctx = error.get("ctx") or {}
    got = _show(error["input"])
    if bound is not None and bound[0] in ctx:
        return f"{flag} must be {bound[1]} {_show(ctx[bound[0]])}, got {got}"
    return f"{flag}: {error['msg']}, got {got}"


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)
