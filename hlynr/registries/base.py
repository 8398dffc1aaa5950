"""The name -> object registry behind every name a config can use, with "did you mean" hints.

Every user-facing name in a config (algorithm, wrapper, callback, schedule, activation, env type)
is looked up through a :class:`Registry`, so an unknown name always fails with the same clear
message listing the closest known names.

An entry may be registered lazily (:meth:`Registry.register_lazy`): the registry knows its name
at once, and imports the module that holds it (torch, SB3, an env engine) only when the entry
is first looked up.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def suggest(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or ``""`` if none is close.

    A name that is the first words of candidates (``features_extractor`` of
    ``features_extractor_class``) suggests those; otherwise the closest by spelling.
    """
    lowered = {c.lower(): c for c in candidates}
    longer = sorted(lowered[c] for c in lowered if c.startswith(name.lower() + "_"))
    if longer:
        return f" (did you mean {' or '.join(repr(c) for c in longer)}?)"
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[matches[0]]}'?)" if matches else ""


def load_object(path: str) -> Any:
    """The object a ``"module:attribute"`` path names (``attribute`` may be dotted), imported now."""
    module, sep, attr = path.partition(":")
    if not (module and sep and attr):
        raise ValueError(f"'{path}' is not a module:attribute path")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


Loader = str | Callable[[], T]
"""A lazy entry: a ``"module:attribute"`` path, or a callable returning the entry."""


class _Lazy(Generic[T]):
    """An entry that is not loaded yet (never returned by a lookup)."""

    __slots__ = ("loader",)

    def __init__(self, loader: Loader[T]) -> None:
        self.loader = loader

    def load(self) -> T:
        return load_object(self.loader) if isinstance(self.loader, str) else self.loader()


class UnknownNameError(KeyError):
    """Raised when a registry lookup fails; ``str()`` is a complete user-facing message."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        msg = f"unknown {kind} '{name}'{suggest(name, known)}; known: {', '.join(sorted(known))}"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return self.args[0]


class RetiredNameError(UnknownNameError):
    """Raised when a lookup names a removed entry; the message says what to write instead."""

    def __init__(self, kind: str, name: str, hint: str) -> None:
        KeyError.__init__(self, f"{kind} '{name}' no longer exists: {hint}")
        self.kind, self.name, self.known = kind, name, []


class Registry(Generic[T]):
    """Maps names to objects of one kind (``kind`` is used in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T | _Lazy[T]] = {}
        self._retired: dict[str, str] = {}
        self._resolver: str | Callable[[str], T] | None = None

    def set_resolver(self, resolver: str | Callable[[str], T]) -> None:
        """Resolve ``module:Class`` names (user code named by path) with ``resolver(name)``.

        A resolved name is registered on first use; ``resolver`` raises ``ValueError`` with a
        complete message when the path cannot be imported or names the wrong kind of object.
        ``resolver`` may itself be given as a ``"module:function"`` path, imported on first use.
        """
        self._resolver = resolver

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add ``item`` under ``name``; re-registering a name is an error unless ``replace``."""
        self._add(name, item, replace)
        return item

    def register_lazy(self, name: str, loader: Loader[T], *, replace: bool = False) -> None:
        """Add the entry ``loader`` gives (a ``"module:attribute"`` path or a callable) under ``name``.

        The name is known at once (validation, suggestions, :meth:`names`); the entry's module is
        imported only when :meth:`get` first looks it up, and the loaded entry is kept.
        """
        self._add(name, _Lazy(loader), replace)

    def _add(self, name: str, item: T | _Lazy[T], replace: bool) -> None:
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._items[name] = item

    def get(self, name: str) -> T:
        """Look ``name`` up, raising :class:`UnknownNameError` with suggestions if absent."""
        try:
            item = self._items[name]
        except KeyError:
            pass
        else:
            if isinstance(item, _Lazy):
                item = self._items[name] = item.load()
            return item
        if name in self._retired:
            raise RetiredNameError(self.kind, name, self._retired[name])
        if self._resolver is not None and ":" in name:
            resolve: Callable[[str], T] = (load_object(self._resolver) if isinstance(self._resolver, str)
                                           else self._resolver)
            self._resolver = resolve
            return self.register(name, resolve(name))
        raise UnknownNameError(self.kind, name, list(self._items))

    def is_loaded(self, name: str) -> bool:
        """Whether ``name``'s entry is loaded (a lazy entry not looked up yet is not)."""
        return name in self._items and not isinstance(self._items[name], _Lazy)

    def retire(self, name: str, hint: str) -> None:
        """Mark ``name`` as removed: looking it up fails with ``hint`` (what to write instead)."""
        self._retired[name] = hint

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> list[str]:
        """All registered names, in registration order."""
        return list(self._items)
