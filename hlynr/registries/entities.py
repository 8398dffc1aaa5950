"""Observations made of an own block and K entity slots, declared by the env.

An env whose observation is ``[own (own_size) | slot_1 | ... | slot_K]`` (each slot
``slot_size`` numbers, one of them a validity flag at ``valid_index``, > 0.5 for a real entity)
declares it with an ``entity_layout`` attribute, so a config needs no offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EntityLayout:
    """Where the own block and the entity slots sit in a flat observation."""

    own_size: int
    slot_size: int
    slots: int
    valid_index: int
    """Index of the validity flag inside each slot."""

    def __post_init__(self) -> None:
        if self.own_size < 1 or self.slot_size < 1 or self.slots < 1:
            raise ValueError(f"entity layout sizes must be >= 1: {self}")
        if not 0 <= self.valid_index < self.slot_size:
            raise ValueError(f"valid_index {self.valid_index} is outside a slot of "
                             f"{self.slot_size} numbers")

    @property
    def size(self) -> int:
        """Length of the flat observation this layout describes."""
        return self.own_size + self.slots * self.slot_size

    def slot_offset(self, k: int) -> int:
        """Index of the first entry of slot ``k``."""
        return self.own_size + k * self.slot_size


def entity_layout_of(venv: Any) -> EntityLayout | None:
    """The ``entity_layout`` an env declares (VecEnv wrappers, the VecEnv, or its first env)."""
    seen: object = venv
    while seen is not None:
        layout = getattr(seen, "entity_layout", None)
        if isinstance(layout, EntityLayout):
            return layout
        seen = getattr(seen, "venv", None)
    try:
        (layout,) = venv.get_attr("entity_layout", indices=[0])
    except (AttributeError, TypeError, ValueError):
        return None
    return layout if isinstance(layout, EntityLayout) else None

