"""Declared observation layouts that components read without hard-coded offsets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntityLayout:
    """An observation row as an own block plus ``n_slots`` equal slots with a validity flag.

    Row layout: ``[own (own_size) | slot_0 (slot_size) | ... | slot_{n_slots-1}]``; entry
    ``valid_index`` of a slot is 1.0 for a real entity and 0.0 for padding.
    """

    own_size: int
    slot_size: int
    n_slots: int
    valid_index: int

    @property
    def size(self) -> int:
        """Length of a row."""
        return self.own_size + self.n_slots * self.slot_size

    def slot_offset(self, k: int) -> int:
        """Index of the first entry of slot ``k``."""
        return self.own_size + k * self.slot_size
