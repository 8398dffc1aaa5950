"""Import user code named by an explicit ``module:Class`` path, checking what kind it is.

A config may name a class of its own (a wrapper, a callback, a policy, ...) by path instead
of by a registered name. The class is imported while the config is validated, so a path that
does not import, or names the wrong kind of object, fails before anything runs.
"""

from __future__ import annotations

import importlib
from typing import Any


def is_path(name: str) -> bool:
    """Whether ``name`` is a ``module:attribute`` path rather than a registered name."""
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr)


def import_object(path: str) -> Any:
    """The object a ``module:attribute`` path names; ``ValueError`` with a full message if none."""
    if not is_path(path):
        raise ValueError(f"'{path}' is not a module:Class path")
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # user code: a missing module, or one that fails while importing
        reason = str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
        raise ValueError(f"cannot import module '{module_name}' of '{path}': {reason}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module '{module_name}' has no attribute '{attr}' "
                             f"(from '{path}')") from None
    return obj


def import_class(path: str, base: type | tuple[type, ...], kind: str) -> type:
    """The class a path names, which must be a subclass of ``base`` (``kind`` names it)."""
    obj = import_object(path)
    if not isinstance(obj, type) or not issubclass(obj, base):
        what = type(obj).__name__ if not isinstance(obj, type) else f"class {obj.__name__}"
        raise ValueError(f"'{path}' is not a {kind} (it is a {what})")
    return obj
