"""Curriculum stages: the one place where a stage selector becomes env parameters."""

from __future__ import annotations

from typing import Any, Literal

StageSelector = Literal["final", "current", "none"] | int
"""``final`` (the hardest, last stage), ``current`` (the training curriculum's), ``none`` (the env
as configured, no stage applied) or a stage index."""


class StageError(ValueError):
    """A stage selector that the curriculum cannot satisfy; ``str()`` is the user message."""


def resolve_stage(
    stages: list[dict[str, Any]], selector: StageSelector,
    current: tuple[int, dict[str, Any]] | None = None,
) -> tuple[int | None, dict[str, Any] | None]:
    """``(index, env params)`` of the selected stage, ``(None, None)`` without a curriculum.

    ``current`` is the training curriculum's ``(index, params)`` (for ``selector == "current"``;
    without it the current stage is the first). An index outside the curriculum, or any index
    without a curriculum, raises :class:`StageError`.
    """
    if isinstance(selector, bool) or (
            not isinstance(selector, int) and selector not in ("final", "current", "none")):
        raise StageError(f"stage must be final, current, none or an index, got {selector!r}")
    if isinstance(selector, int):
        if not stages:
            raise StageError(f"stage {selector} was asked for, but the config has no curriculum")
        if not 0 <= selector < len(stages):
            raise StageError(f"no curriculum stage {selector}: the curriculum has stages "
                             f"0..{len(stages) - 1}")
        return selector, dict(stages[selector])
    if not stages or selector == "none":
        return None, None
    if selector == "final":
        return len(stages) - 1, dict(stages[-1])
    if current is not None:
        return current[0], dict(current[1])
    return 0, dict(stages[0])
