"""The name -> object registry behind every name a config can use, with "did you mean" hints.

Every user-facing name in a config (algorithm, wrapper, callback, schedule, activation, env type)
is looked up through a :class:`Registry`, so an unknown name always fails with the same clear
message listing the closest known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

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
        self._items: dict[str, T] = {}
        self._retired: dict[str, str] = {}
        self._resolver: Callable[[str], T] | None = None

    def set_resolver(self, resolver: Callable[[str], T]) -> None:
        """Resolve ``module:Class`` names (user code named by path) with ``resolver(name)``.

        A resolved name is registered on first use; ``resolver`` raises ``ValueError`` with a
        complete message when the path cannot be imported or names the wrong kind of object.
        """
        self._resolver = resolver

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add ``item`` under ``name``; re-registering a name is an error unless ``replace``."""
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """Look ``name`` up, raising :class:`UnknownNameError` with suggestions if absent."""
        try:
            return self._items[name]
        except KeyError:
            pass
        if name in self._retired:
            raise RetiredNameError(self.kind, name, self._retired[name])
        if self._resolver is not None and ":" in name:
            return self.register(name, self._resolver(name))
        raise UnknownNameError(self.kind, name, list(self._items))

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
