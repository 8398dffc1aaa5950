"""Observation layout of ``hlynr/ATC-v0``: the one place the env, baselines and extractors share.

Every aircraft row is a flat ``float32`` vector: an own block of :data:`OWN_SIZE` entries, then
``k_intruders`` slots of :data:`SLOT_SIZE` entries (the nearest other aircraft still flying,
nearest first by horizontal distance; unused slots are all zeros with ``valid = 0``). Values are
scaled by the constants below and clipped to ``[-OBS_CLIP, OBS_CLIP]``. A row of all zeros is an
aircraft that is not flying (an unused slot, or one that has left the sector at its exit).

Own block (world vectors are ``(east, north)``)::

    active        1.0 while the aircraft flies
    cos_drift     cos of the drift angle: bearing to the exit minus heading
    sin_drift     sin of it (positive: the exit lies to the right)
    speed         airspeed / SPEED_SCALE
    pos (2)       position (world) / POS_SCALE, sector centre at the origin
    vel (2)       velocity (world) / SPEED_SCALE
    dist_to_go    distance to the exit / POS_SCALE

Intruder slot (relative vectors in the own heading-up frame ``(right, forward)``, see
:func:`hlynr.envs.atc.units.to_heading_up`, so a shared policy is rotation invariant)::

    valid         1.0 for a real intruder, 0.0 for padding
    distance      horizontal distance / REL_SCALE
    rel_pos (2)   intruder minus own position / REL_SCALE
    rel_vel (2)   intruder minus own velocity / SPEED_SCALE
    tcpa          time to the closest point of approach / TCPA_SCALE (negative: diverging)
    dcpa          horizontal distance at the closest point of approach / PZ_SCALE
    dalt          intruder minus own altitude / ALT_SCALE
"""

from __future__ import annotations

from hlynr.envs.atc.units import FT, KT, NM
from hlynr.envs.fields import field_slices
from hlynr.registries import EntityLayout

POS_SCALE = 50.0 * NM
REL_SCALE = 20.0 * NM
SPEED_SCALE = 250.0 * KT
TCPA_SCALE = 300.0
PZ_SCALE = 5.0 * NM
ALT_SCALE = 1000.0 * FT
OBS_CLIP = 10.0

OWN_FIELDS: tuple[tuple[str, int], ...] = (
    ("active", 1), ("cos_drift", 1), ("sin_drift", 1), ("speed", 1), ("pos", 2), ("vel", 2),
    ("dist_to_go", 1),
)
SLOT_FIELDS: tuple[tuple[str, int], ...] = (
    ("valid", 1), ("distance", 1), ("rel_pos", 2), ("rel_vel", 2), ("tcpa", 1), ("dcpa", 1),
    ("dalt", 1),
)


OWN, OWN_SIZE = field_slices(OWN_FIELDS)
"""Slices of the own-block fields in a row, and the own block's length."""
SLOT, SLOT_SIZE = field_slices(SLOT_FIELDS)
"""Slices of the fields inside one intruder slot (add the slot's offset), and a slot's length."""

ACTION_SIZE = 2
"""Actions ``[heading, speed]`` in ``[-1, 1]``: the commanded heading change (fraction of
``max_heading_change_deg``, positive = turn right) and speed change (fraction of
``max_speed_change_kt``) relative to the current heading and airspeed."""


def entity_layout(k_intruders: int) -> EntityLayout:
    """The ATC observation layout with ``k_intruders`` intruder slots."""
    return EntityLayout(OWN_SIZE, SLOT_SIZE, k_intruders, SLOT["valid"].start)
