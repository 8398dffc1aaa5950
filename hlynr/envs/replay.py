"""What a replay needs of an env beyond its renderer: where each agent row is in a frame, and
which entity each attention slot of its observation holds.

The attention extractor weighs the entity slots of an agent row's observation (the nearest
intruders of an aircraft, the nearest teammates of an interceptor). To draw those weights as
lines from the agent to the entity, a replay needs the entity behind each slot; the observation
holds only relative, rotated vectors, so :func:`attention_geometry` re-applies the env's own
slot rule (nearest first, :func:`hlynr.envs.atc.observation.nearest` and
:func:`hlynr.envs.swarm.observation.nearest_mates`) to the snapshot of the step. Slots the
observation marked invalid are never drawn, so the optional range limits of those rules
(comms range) need not be repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hlynr.envs.drawing import PlacedView
from hlynr.envs.rendering import Size


@dataclass(frozen=True)
class AttentionGeometry:
    """How an env's attention slots map onto a frame."""

    positions: Callable[[Any], np.ndarray]
    """``positions(snapshot)``: world positions ``(M, 2)`` of the agent rows."""
    live: Callable[[Any], np.ndarray]
    """``live(snapshot)``: the agent rows that act ``(M,)`` bool."""
    slots: Callable[[Any, int], np.ndarray]
    """``slots(snapshot, k)``: the agent row held by each of the ``k`` slots of each row ``(M, k)``."""
    view: Callable[[Any, Size], PlacedView]
    """``view(scene, size)``: the world-to-frame-pixel transform of the plan view."""


def _nearest_first(pos: np.ndarray, live: np.ndarray, k: int) -> np.ndarray:
    """For each row, the ``k`` other live rows nearest first by horizontal distance (ties by
    index, as the envs' stable sorts; missing slots hold index 0)."""
    m = len(pos)
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    ok = live[:, None] & live[None, :] & ~np.eye(m, dtype=bool)
    order = np.argsort(np.where(ok, d, np.inf), axis=1, kind="stable")[:, :min(k, m)]
    if order.shape[1] < k:
        order = np.pad(order, ((0, 0), (0, k - order.shape[1])))
    return order


def _slot_geometry(module: str, live_field: str) -> AttentionGeometry:
    """Geometry of an env whose snapshots hold ``pos`` and a per-entity flag ``live_field``, and
    whose slots list the nearest live entities first; ``module`` is its renderer."""
    import importlib

    render = importlib.import_module(module)

    def live(s: Any) -> np.ndarray:
        return np.asarray(getattr(s, live_field), dtype=bool)

    return AttentionGeometry(
        positions=lambda s: np.asarray(s.pos, dtype=float),
        live=live,
        slots=lambda s, k: _nearest_first(np.asarray(s.pos, dtype=float), live(s), k),
        view=render.view)


def _atc() -> AttentionGeometry:
    return _slot_geometry("hlynr.envs.atc.render", "flying")


def _swarm() -> AttentionGeometry:
    return _slot_geometry("hlynr.envs.swarm.render", "alive")


GEOMETRIES: dict[str, Callable[[], AttentionGeometry]] = {
    "hlynr/ATC-v0": _atc,
    "hlynr/Swarm-v0": _swarm,
}


def attention_geometry(env_id: str) -> AttentionGeometry | None:
    """The attention geometry of ``env_id`` (``None`` for an env without entity slots)."""
    make = GEOMETRIES.get(env_id)
    return None if make is None else make()
