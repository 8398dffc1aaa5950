"""A teacher's privileged view of the Intercept env: the truth sensor's observation, and its
commands re-expressed in the frame of the agent's own observation.

The agent observes the engagement through its sensor (the radar/Kalman track by default). A
privileged teacher is shown, at the same step, the observation the truth sensor would produce
(``sensor: {mode: truth}``: same layout, ``OBS_FIELDS``, built from the engine's true threat
state instead of the track). An action ``u`` commands the lateral acceleration
``a_max * scale * (u_0 e_y + u_1 e_z)`` in the frame of the observation it was chosen on
(:mod:`~hlynr.envs.intercept.observation`), and the two observations have different frames: the
truth frame is built from the true line of sight, the agent's from the estimated one. Both
frames are orthonormal bases of the plane perpendicular to the interceptor's velocity, so the
teacher's world-frame command is carried over exactly by projecting it onto the agent's
``e_y``, ``e_z``: a 2 x 2 rotation per env (:func:`truth_view`, :func:`to_own_frame`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlynr.envs.intercept.core import InterceptCore, commands
from hlynr.envs.intercept.observation import observe_inputs

PRIVILEGED_ENV_OVERRIDES: dict[str, Any] = {"sensor": {"mode": "truth"}}
"""The env parameters whose own observation the privileged view is."""


def truth_view(core: InterceptCore) -> tuple[np.ndarray, np.ndarray]:
    """What the truth sensor would show every env of ``core`` at its current state, and how to
    carry a command chosen on it into the frame of the env's current (own) observation.

    Returns ``(obs (n, OBS_DIM) float32, rotation (n, 2, 2))`` with ``rotation[i, a, b] =
    own_e[a] . truth_e[b]`` (``e[0] = e_y``, ``e[1] = e_z``): ``u_own = rotation @ u_truth``.
    With the truth sensor the observation is the env's own and the rotation the identity.
    """
    obs, truth_frame = observe_inputs(core.observation_inputs(None, truth=True))
    rotation = np.einsum("aij,bij->jab", core.e_yz, truth_frame)
    return obs, rotation


def to_own_frame(actions: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Actions ``(n, 2)`` chosen in the truth frame as the actions ``(n, 2)`` float32 that command
    the same lateral acceleration in each env's own frame (``rotation`` from :func:`truth_view`).

    The teacher's action is read as the engine reads any action (non-finite entries 0, each
    entry clipped to [-1, 1]) and rotated; a result outside [-1, 1]^2 is scaled down as a whole
    until it fits. The rotation keeps the norm, and the engine limits the norm to 1: an action of
    norm <= 1 keeps it, one above 1 still has a norm >= 1 after the scaling and is executed at
    norm 1, in the same direction. So the command is exactly the teacher's (up to float32
    rounding), and with the identity rotation (the truth sensor) the action is the teacher's own.
    """
    n = rotation.shape[0]
    u, _, _ = commands(actions, n)
    own = np.einsum("nab,bn->na", rotation, u)
    own /= np.maximum(np.abs(own).max(axis=1, keepdims=True), 1.0)
    return np.clip(own, -1.0, 1.0).astype(np.float32)
