"""Python-expression strings of RL Zoo files, read as plain data over a whitelist of the AST.

The Zoo ``eval()``s strings such as ``"dict(log_std_init=-2, ortho_init=False,
activation_fn=nn.ReLU)"`` with ``nn``, ``th`` and ``np`` in scope. hlynr never evaluates them:
it parses the string and accepts only literals (numbers, strings, booleans, None, lists, tuples,
dicts), ``dict(key=value, ...)``, signed numbers, ``nn.<Activation>`` and
``th.optim.<Optimizer>`` (and ``RMSpropTFLike``, which the Zoo puts in scope). Activations and
optimizers become the registry names hlynr's config uses (``nn.ReLU`` -> ``relu``); any other
construct is an error that names it.
"""

from __future__ import annotations

import ast
from typing import Any

from hlynr.registries import ACTIVATIONS, OPTIMIZERS, Registry

_ACTIVATION_PREFIXES = (("nn",), ("th", "nn"), ("torch", "nn"))
_OPTIMIZER_PREFIXES = (("th", "optim"), ("torch", "optim"), ("optim",), ())
"""``()``: a bare class name, as the Zoo imports ``RMSpropTFLike`` into its eval scope."""


class UnsupportedExpression(ValueError):
    """A construct outside the whitelist; ``str()`` names it."""


def _by_class_name(registry: Registry[Any], class_name: str) -> str | None:
    return next((n for n in registry.names() if registry.get(n).__name__ == class_name), None)


def _dotted(node: ast.AST) -> tuple[str, ...] | None:
    """``("th", "optim", "Adam")`` for ``th.optim.Adam``; None for anything but names and dots."""
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else (*base, node.attr)
    return None


def _class_name(parts: tuple[str, ...]) -> str:
    prefix, name = parts[:-1], parts[-1]
    for prefixes, registry, kind in ((_ACTIVATION_PREFIXES, ACTIVATIONS, "activation"),
                                     (_OPTIMIZER_PREFIXES, OPTIMIZERS, "optimizer")):
        if prefix in prefixes:
            found = _by_class_name(registry, name)
            if found is None:
                known = ", ".join(registry.get(n).__name__ for n in registry.names())
                raise UnsupportedExpression(f"'{'.'.join(parts)}' is not a known {kind} "
                                            f"(known: {known})")
            return found
    raise UnsupportedExpression(f"unsupported name '{'.'.join(parts)}' (allowed: literals, "
                                "dict(...), nn.<Activation>, th.optim.<Optimizer>)")


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise UnsupportedExpression("unsupported construct '**' in a dict")
        keys = [_value(k) for k in node.keys]  # type: ignore[arg-type]
        if not all(isinstance(k, str) for k in keys):
            raise UnsupportedExpression(f"dict keys must be strings: '{ast.unparse(node)}'")
        return dict(zip(keys, (_value(v) for v in node.values), strict=True))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args or any(k.arg is None for k in node.keywords):
            raise UnsupportedExpression(f"dict(...) takes keyword arguments only: "
                                        f"'{ast.unparse(node)}'")
        return {k.arg: _value(k.value) for k in node.keywords}
    parts = _dotted(node)
    if parts is not None and (len(parts) > 1 or _by_class_name(OPTIMIZERS, parts[0])):
        return _class_name(parts)
    raise UnsupportedExpression(f"unsupported construct '{ast.unparse(node)}' "
                                f"({type(node).__name__}; allowed: literals, dict(...), "
                                "nn.<Activation>, th.optim.<Optimizer>)")


def parse_expression(text: str) -> Any:
    """The plain data a Zoo Python-expression string describes (never evaluated)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsupportedExpression(f"not a Python expression ({exc.msg})") from None
    return _value(tree.body)
