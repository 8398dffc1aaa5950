"""The layout of the engine's float state matrix: every row addressed by name, from one table.

The state of ``n`` engagements is one ``(N_STATE_ROWS, n)`` matrix (one column per env), so a
reset is one scatter of a column block. Threat and interceptor positions come first, then their
velocities, so that :class:`StateViews` can move both bodies with one call on ``pos``/``vel``;
the first ``OWN_AND_TRUTH`` rows are also the first rows of the observation inputs (in the same
order, see :data:`~hlynr.envs.intercept.observation.INPUT_ROWS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlynr.envs.fields import field_slices

_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("tp", 3, "threat position (m)"),
    ("mp", 3, "interceptor position (m)"),
    ("tv", 3, "threat velocity (m/s)"),
    ("mv", 3, "interceptor velocity (m/s)"),
    ("ma", 3, "interceptor achieved lateral acceleration (m/s^2)"),
    ("fuel", 1, "fuel left (kg)"),
    ("man_code", 1, "manoeuvre code (a Maneuver); live copy: the int array ``man_code``"),
    ("man_cos", 1, "cos of the manoeuvre plane angle around the threat velocity"),
    ("man_sin", 1, "sin of that angle"),
    ("man_omega", 1, "weave angular frequency (rad/s)"),
    ("man_phase", 1, "weave phase (rad)"),
    ("man_tstep", 1, "step manoeuvre start time (s)"),
    ("man_sign", 1, "sign of the step / random-switching manoeuvre"),
    ("t", 1, "episode time (s)"),
    ("min_dist", 1, "closest approach so far (m)"),
    ("t_cpa", 1, "time of the closest approach (s)"),
    ("closing", 1, "range has been closing (0/1); live copy: the bool array ``closing_seen``"),
    ("phi", 1, "shaping potential of the current state"),
)
"""(name, rows, meaning) in row order. ``man_code`` and ``closing`` are only read from the
reset cache (:mod:`hlynr.envs.intercept.sampling`); the engine keeps their live values in typed
arrays."""

_SLICES, N_STATE_ROWS = field_slices(_FIELDS)
"""Rows of the state matrix: ``N_STATE_ROWS``."""
ROWS: dict[str, slice | int] = {
    name: sl.start if sl.stop - sl.start == 1 else sl for name, sl in _SLICES.items()}
"""Row (scalars) or row slice (3-vectors) of each named quantity."""

BODIES = slice(_SLICES["tp"].start, _SLICES["mp"].stop)
"""Positions of threat and interceptor (6 rows), moved together."""
BODY_VELOCITIES = slice(_SLICES["tv"].start, _SLICES["mv"].stop)
"""Velocities of threat and interceptor (6 rows), moved together."""
OWN_AND_TRUTH: int = _SLICES["ma"].stop
"""The leading rows (positions, velocities, achieved acceleration) shared with the observation inputs."""
FINAL_ROWS = np.array([ROWS[k] for k in ("min_dist", "t_cpa", "t", "fuel")])[:, None]
"""Rows of the ``FINAL_STATS`` (as a column, to index a block of rows x envs)."""

assert _SLICES["mp"].start == _SLICES["tp"].stop and _SLICES["mv"].start == _SLICES["tv"].stop


class StateViews:
    """Named views of a state matrix ``S``: ``views[name]`` (rows of :data:`ROWS`), the stacked
    positions ``pos`` and velocities ``vel`` (2, 3, n) (threat first) and an acceleration
    scratch ``acc`` (2, 3, n) with its rows ``acc_rows`` (threat, interceptor)."""

    def __init__(self, S: np.ndarray) -> None:
        n = S.shape[1]
        self.views: dict[str, np.ndarray] = {k: S[rows] for k, rows in ROWS.items()}
        self.pos = S[BODIES].reshape(2, 3, n)
        self.vel = S[BODY_VELOCITIES].reshape(2, 3, n)
        self.acc = np.empty((2, 3, n))
        self.acc_rows: tuple[np.ndarray, ...] = tuple(self.acc)


def state_row(name: str) -> property:
    """A property for the state quantity ``name`` of an object with ``_sv`` (:class:`StateViews`):
    a view of its rows (assignment copies in)."""
    rows = ROWS[name]

    def get(self: Any) -> np.ndarray:
        return self._sv.views[name]

    def put(self: Any, value: np.ndarray) -> None:
        self._sv.views[name][...] = value

    return property(get, put, doc=f"``{name}``: rows {rows} of the state matrix ``S`` (a view).")
