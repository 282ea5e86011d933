"""One lazy registry for environments, agents and model providers.

Entries are objects or ``"module:attr"`` references imported on first use (Gymnasium's pattern), so
listing names imports nothing. Built-ins are declared as such references; installed plugins come
from an entry-point group (``palaestra.envs``, ``palaestra.agents``, ``palaestra.models``) and are
loaded the same way. A reference that fails to import is reported as one line naming it, the same
for every kind, and breaks only its own name.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from palaestra.errors import UnknownNameError, UsageError

T = TypeVar("T")


@dataclass(slots=True)
class Entry(Generic[T]):
    target: T | str
    """The object, or a ``"module:attr"`` reference to it."""
    meta: dict[str, Any] = field(default_factory=dict)
    plugin: bool = False


def load_reference(ref: str) -> Any:
    """The object a ``"module:attr"`` (or ``"path/to/file.py:attr"``) reference names.

    Raises ``UsageError`` with one line when the module cannot be imported or has no such attribute.
    """
    module_name, sep, attr = ref.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"bad reference {ref!r}: expected 'module:name' or 'path/to/file.py:name'")
    try:
        module = (
            _load_file(module_name) if module_name.endswith(".py") else importlib.import_module(module_name)
        )
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(f"cannot load {ref!r}: {type(e).__name__}: {e}") from None
    return obj


def _load_file(path: str) -> Any:
    """Import a one-file module by path (once: the same path gives the same module)."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise UsageError(f"no such file {path!r}")
    name = f"palaestra_user_{abs(hash(str(file))):x}_{file.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


class Registry(Generic[T]):
    """Names to objects of one kind, each imported when first asked for."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        """What the names are, for messages: ``"environment"``, ``"agent"``, ``"model provider"``."""
        self.group = group
        """The entry-point group plugins register under."""
        self._entries: dict[str, Entry[T]] = {}
        self._loaded: dict[str, T] = {}
        self._plugins_read = False

    def register(self, name: str, target: T | str, /, **meta: Any) -> None:
        """Add (or replace) ``name``: an object or a ``"module:attr"`` reference, with metadata."""
        self._entries[name] = Entry(target, meta)
        self._loaded.pop(name, None)

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._entries:  # a plugin never shadows a built-in or a registration
                self._entries[ep.name] = Entry(ep.value, plugin=True)

    def names(self) -> list[str]:
        self._read_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._read_plugins()
        return name in self._entries

    def meta(self, name: str) -> dict[str, Any]:
        return self._entry(name).meta

    def _entry(self, name: str) -> Entry[T]:
        if name not in self:
            raise UnknownNameError(self.kind, name, self._entries)
        return self._entries[name]

    def get(self, name: str) -> T:
        """The object registered as ``name``; ``UsageError`` (one line) if unknown or broken."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self._entry(name)
        if isinstance(entry.target, str):
            try:
                obj: T = load_reference(entry.target)
            except UsageError as e:
                origin = "plugin" if entry.plugin else "built-in"
                raise UsageError(
                    f"{self.kind} {name!r} ({origin} {entry.target}) failed to load: {e}"
                ) from None
        else:
            obj = entry.target
        self._loaded[name] = obj
        return obj
