"""Load a YAML config: ``extends`` chains, ``--set`` overrides, validation, clear errors.

Every failure raises :class:`ConfigError`, whose message names the file (and line) where the
offending key was written, the key path, and the likely intended key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

Origin = tuple[str, int | None]  # (file or "--set", 1-based line)


class ConfigError(Exception):
    """A config could not be loaded or validated; ``str()`` is the complete user message."""


# --- YAML with YAML 1.2 floats (3e-4 is a number, not a string) and key line numbers ---------

_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``3e-4`` as a float and rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" merges keys that the mapping's own keys may override
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (lines {first[key]} and {line}): keep one",
                    key_node.start_mark)
            first[key] = line
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def _record_lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _record_lines(item, path + (i,), out)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML text, returning the data and the line of every key path."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: malformed YAML: {exc.problem or exc.context or 'not YAML'}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: malformed YAML ({type(exc).__name__})") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return data, lines


# --- extends + overrides, keeping where each key came from --------------------------------


def deep_merge(base: Any, over: Any) -> Any:
    """Deep-merge mappings; any other value in ``over`` replaces the base value."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return over


def _load_file(path: Path, origins: dict[tuple[Any, ...], Origin], chain: tuple[Path, ...]) -> dict:
    if path in chain:
        cycle = " -> ".join(str(p) for p in chain + (path,))
        raise ConfigError(f"{chain[-1]}: 'extends' forms a cycle: {cycle}")
    try:
        text = path.read_text()
    except FileNotFoundError:
        where = f"{chain[-1]}: 'extends' names a file that does not exist: " if chain else ""
        raise ConfigError(f"{where}config file not found: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    data, lines = parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping, got {type(data).__name__}")
    bases = data.pop("extends", None)
    merged: dict = {}
    if bases is not None:
        if isinstance(bases, str):
            bases = [bases]
        if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
            raise ConfigError(f"{path}:{lines.get(('extends',), '?')}: 'extends' must be a "
                              "file path or a list of file paths (relative to this file)")
        for base in bases:
            merged = deep_merge(merged, _load_file((path.parent / base).resolve(), origins,
                                               chain + (path,)))
    for key_path, line in lines.items():
        if key_path and key_path[0] != "extends":
            origins[key_path] = (str(path), line)
    return deep_merge(merged, data)


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """Parse ``a.b.0.c=value``: a key path (integers index lists) and a YAML value."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: empty key in path")
    value, _ = parse_yaml(raw, f"--set {key}") if raw.strip() else (None, {})
    return [int(p) if p.isdigit() else p for p in key.split(".")], value


def apply_override(data: dict, path: Sequence[str | int], value: Any) -> None:
    """Set ``data[path] = value``, creating mappings along the way; list items by index."""
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise ConfigError(f"--set {'.'.join(map(str, path))}: no list item {part}")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {'.'.join(map(str, path))}: "
                              f"'{'.'.join(map(str, path[:i]))}' is not a mapping")
        if part not in node or node[part] is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise ConfigError(f"--set {'.'.join(map(str, path))}: no list item {last}")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {'.'.join(map(str, path))}: parent is not a mapping")


def load_raw(path: str | Path, overrides: Iterable[str] = ()) -> tuple[dict, dict]:
    """Read a config file with its ``extends`` chain and ``--set`` overrides applied.

    Returns the merged data and, for each key path, the ``(file, line)`` it came from.
    """
    origins: dict[tuple[Any, ...], Origin] = {}
    data = _load_file(Path(path).resolve(), origins, ())
    apply_overrides(data, origins, overrides)
    return data, origins


def apply_overrides(data: dict, origins: dict[tuple[Any, ...], Origin], overrides: Iterable[str]) -> None:
    """Apply ``--set`` overrides to ``data``; each key path set (and all below it) now comes
    from ``--set`` in ``origins``."""
    for text in overrides:
        key_path, value = parse_override(text)
        apply_override(data, key_path, value)
        key = tuple(key_path)
        for below in [k for k in origins if k[:len(key)] == key]:
            del origins[below]
        origins[key] = ("--set", None)


# --- validation error formatting -----------------------------------------------------------


def dotted(loc: Sequence[Any]) -> str:
    """A key path as the user writes it: ``a.b[2].c``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def where_written(loc: tuple[Any, ...], origins: dict[tuple[Any, ...], Origin], default: str) -> str:
    """``file:line`` (or ``--set``) where ``loc`` or its nearest parent was written, else ``default``."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            file, line = origins[loc[:n]]
            return f"{file}:{line}" if line else file
    return default


def user_loc(error: ErrorDetails, data: Any) -> tuple[Any, ...]:
    """The key path of an error as the user wrote it in ``data`` (the validated input).

    Pydantic's locations also hold union members and validator tags; a location part is kept
    only where it indexes the user's data at that depth, so any key name (``step``, ``float``,
    ...) is reported where it was written.
    """
    loc: list[Any] = []
    node = data
    parts = list(error["loc"])
    for i, part in enumerate(parts):
        if error["type"] == "missing" and i == len(parts) - 1:
            loc.append(part)  # the missing key itself is, by definition, not in the data
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            continue
        loc.append(part)
    ctx = error.get("ctx") or {}
    if error["type"] == "unknown_key":
        loc.append(ctx["key"])
    loc.extend(ctx.get("subpath", ()))
    return tuple(loc)


def specific_errors(exc: ValidationError, data: Any) -> list[tuple[tuple[Any, ...], ErrorDetails]]:
    """``(user key path, error)`` of each error, without those a more specific one explains.

    A union (``3e-4`` or a schedule mapping) reports one error per member; the one located
    deeper in what the user wrote (``learning_rate.strat``) says what is wrong, the others
    (``learning_rate``: not a number) only that the union failed.
    """
    located = [(user_loc(e, data), e) for e in exc.errors()]
    paths = [loc for loc, _ in located]
    kept = [(loc, e) for loc, e in located
            if not any(len(other) > len(loc) and other[:len(loc)] == loc for other in paths)]
    # At one key, "not a number" only says that the number member of a union failed.
    said = {loc for loc, e in kept if e["type"] not in _UNION_MEMBER_MISS}
    return [(loc, e) for loc, e in kept if e["type"] not in _UNION_MEMBER_MISS or loc not in said]


_UNION_MEMBER_MISS = {"float_type", "float_parsing", "int_type", "int_parsing", "string_type",
                      "bool_type", "bool_parsing", "model_attributes_type", "dict_type",
                      "model_type"}


def error_message(error: ErrorDetails) -> str:
    """The reason of one pydantic error, without pydantic's prefixes."""
    if error["type"] == "missing":
        return "required key is missing"
    return error["msg"].removeprefix("Value error, ")


def format_validation_error(
    exc: ValidationError, data: Any, source: str,
    origins: dict[tuple[Any, ...], Origin] | None = None, what: str = "config",
) -> str:
    """One readable message for a pydantic error of validating ``data``: file:line, key path,
    reason, suggestion (headed ``invalid <what> <source>``)."""
    problems = [(loc, error_message(error)) for loc, error in specific_errors(exc, data)]
    return format_problems(problems, source, origins, what)


def format_problems(
    problems: Sequence[tuple[tuple[Any, ...], str]], source: str,
    origins: dict[tuple[Any, ...], Origin] | None = None, what: str = "config",
) -> str:
    """One readable message for ``(key path, reason)`` problems, in the form of
    :func:`format_validation_error`: file:line, key path, reason (headed ``invalid <what> <source>``)."""
    origins = origins or {}
    lines, seen = [], set()
    for loc, msg in problems:
        entry = f"  {where_written(loc, origins, source)}: {dotted(loc) or '(top level)'}: {msg}"
        if entry not in seen:
            seen.add(entry)
            lines.append(entry)
    n = len(lines)
    return f"invalid {what} {source} ({n} error{'s' if n != 1 else ''}):\n" + "\n".join(lines)
