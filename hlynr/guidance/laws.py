"""Classical guidance laws as pure functions of a batch of Intercept observations.

Each law maps observations ``(n, OBS_DIM)`` (layout: :data:`hlynr.envs.intercept.OBS_SLICES`)
to normalised commands ``(n, 2)`` along the action frame axes ``(e_y, e_z)``, i.e. the
lateral acceleration divided by the interceptor's limit ``a_max``. All of them add gravity
compensation (the ``gravity`` slice). Commands are clipped by the environment (norm <= 1).

They read only the observation (own state and the track); which track that is (CV, CA, IMM
filter, or the truth for an upper bound) is the env's sensor setting.
"""

from __future__ import annotations

import numpy as np

from hlynr.envs.intercept.observation import OBS_SLICES as S

TGO_MIN = 0.05
"""Smallest time-to-go (s) the laws divide by (the observation's own floor)."""
_SERIES_X = 0.2
"""Below this ``x = t_go / T`` the optimal gain uses its series (the closed form cancels)."""


def pure_pursuit(obs: np.ndarray, gain: float) -> np.ndarray:
    """Turn the velocity onto the (estimated) LOS: ``a = gain * V_M * sin(lead angle)`` along ``e_y``."""
    speed = obs[:, S["speed"]][:, 0] * 1000.0
    a_max = obs[:, S["accel_limit"]][:, 0] * 1000.0
    sin_lead = obs[:, S["los"]][:, 1]
    u = obs[:, S["gravity"]].astype(np.float64).copy()
    u[:, 0] += gain * speed * sin_lead / a_max
    return u


def proportional_navigation(obs: np.ndarray, n_gain: float) -> np.ndarray:
    """True PN: ``a = N' Vc (Omega x LOS)`` projected on the lateral axes, plus gravity compensation."""
    return n_gain * obs[:, S["pn_accel"]].astype(np.float64) + obs[:, S["gravity"]]


def target_accel_perp(obs: np.ndarray) -> np.ndarray:
    """The (estimated) target acceleration's part perpendicular to the LOS, along ``e_y, e_z``
    (``/ a_max``; 0 with a CV track). The LOS has no ``e_z`` part: it is ``(cos, sin)`` of the
    lead angle along ``e_v, e_y``."""
    los = obs[:, S["los"]].astype(np.float64)
    at = obs[:, S["target_accel"]].astype(np.float64)  # along e_v, e_y, e_z
    along = at[:, 0] * los[:, 0] + at[:, 1] * los[:, 1]
    return np.stack([at[:, 1] - along * los[:, 1], at[:, 2]], axis=1)


def own_accel_perp(obs: np.ndarray) -> np.ndarray:
    """The interceptor's achieved lateral acceleration that moves it relative to the target
    (achieved minus the gravity-cancelling part), its part perpendicular to the LOS, along
    ``e_y, e_z`` (``/ a_max``)."""
    a = obs[:, S["accel"]].astype(np.float64) - obs[:, S["gravity"]]
    sin_lead = obs[:, S["los"]][:, 1].astype(np.float64)
    return np.stack([a[:, 0] * (1.0 - sin_lead * sin_lead), a[:, 1]], axis=1)


def augmented_pn(obs: np.ndarray, n_gain: float) -> np.ndarray:
    """APN: PN plus ``(N'/2) a_T`` perpendicular to the LOS (needs the CA filter's estimate)."""
    return proportional_navigation(obs, n_gain) + 0.5 * n_gain * target_accel_perp(obs)


def ogl_gain(x: np.ndarray) -> np.ndarray:
    """Effective navigation ratio of the optimal guidance law against a first-order autopilot
    lag ``T``, as a function of ``x = t_go / T`` (Zarchan, *Tactical and Strategic Missile
    Guidance*, ch. 8)::

        N'(x) = 6 x^2 (e^-x - 1 + x) / (2 x^3 + 3 + 6 x - 6 x^2 - 12 x e^-x - 3 e^-2x)

    It falls from ``10 / x`` at small ``x`` to 3 as ``x -> inf``; below ``x = 0.2`` the series
    ``10/x + 20/9 + 95 x/1134 - 4 x^2/729 + 1007 x^3/2571912 - 475 x^4/11573604`` replaces the closed form, whose
    numerator and denominator both vanish there (``3 x^4``, ``0.3 x^5``).
    """
    x = np.asarray(x, dtype=np.float64)
    xs = np.maximum(x, _SERIES_X)  # the closed form only where it is well conditioned
    e = np.exp(-xs)
    num = 6.0 * xs * xs * (np.expm1(-xs) + xs)
    den = 2.0 * xs**3 + 3.0 + 6.0 * xs - 6.0 * xs * xs - 12.0 * xs * e - 3.0 * e * e
    xt = np.minimum(x, _SERIES_X)
    series = 10.0 / xt + 20.0 / 9.0 + xt * (95.0 / 1134.0 + xt * (-4.0 / 729.0 + xt * (
        1007.0 / 2571912.0 - xt * (475.0 / 11573604.0))))
    return np.where(x < _SERIES_X, series, num / den)


def lag_weight(x: np.ndarray) -> np.ndarray:
    """``(e^-x + x - 1) / x^2``: the displacement over ``t_go`` of a first-order response with
    time constant ``T`` (``x = t_go / T``), per unit acceleration, divided by ``t_go^2``. It is
    1/2 at ``x -> 0`` (no decay: ``a t_go^2 / 2``) and ``~1/x`` at large ``x``."""
    x = np.asarray(x, dtype=np.float64)
    return (np.expm1(-x) + x) / (x * x)


def optimal_guidance(obs: np.ndarray, n_gain: float = 3.0, tau: float = 0.1,
                     target_tau: float | None = None) -> np.ndarray:
    """Optimal guidance law (OGL) with a first-order autopilot lag, on the (estimated) track.

    Zarchan (ch. 8): ``a = N'(x) ZEM / t_go^2`` perpendicular to the LOS, ``x = t_go / T``,
    ``N'(x)`` from :func:`ogl_gain` and the zero-effort miss ::

        ZEM = r + v t_go + a_T t_go^2 / 2 - a_M T^2 (e^-x + x - 1)

    (``a_T``: the track's target acceleration; ``a_M``: the interceptor's achieved lateral
    acceleration, which the lag will still carry). With ``t_go = R / Vc``, ``(r + v t_go) /
    t_go^2`` perpendicular to the LOS is ``Vc (Omega x LOS)``, the ``pn_accel`` field, so ::

        a = N'(x) [Vc (Omega x LOS) + a_T w_T - a_M (e^-x + x - 1) / x^2]

    with ``w_T = 1/2``. Parameters: ``n_gain``: the navigation ratio at long time-to-go (3 is
    the optimum; the gain is scaled by ``n_gain / 3`` throughout); ``tau``: the assumed autopilot
    lag ``T`` (s; 0: no lag, ``N' = 3``, no ``a_M`` term, i.e. APN with N' = 3);
    ``target_tau``: if set, the target acceleration is taken to decay with that time constant
    ``theta`` (a first-order Markov / Singer manoeuvre) instead of staying constant over
    ``t_go``, so ``w_T = (e^-y + y - 1) / y^2`` with ``y = t_go / theta``: the full ``1/2`` at
    short time-to-go, ``~theta / t_go`` far out. ``t_go`` is the observation's ``time_to_go``,
    at least :data:`TGO_MIN`.
    """
    tgo = np.maximum(obs[:, S["time_to_go"]][:, 0].astype(np.float64) * 10.0, TGO_MIN)
    pn = obs[:, S["pn_accel"]].astype(np.float64)
    w_t = 0.5 if target_tau is None else lag_weight(tgo / target_tau)[:, None]
    if tau > 0.0:
        x = tgo / tau
        gain = (n_gain / 3.0) * ogl_gain(x)[:, None]
        zem = pn + w_t * target_accel_perp(obs) - lag_weight(x)[:, None] * own_accel_perp(obs)
    else:
        gain = np.full((len(obs), 1), n_gain)
        zem = pn + w_t * target_accel_perp(obs)
    return gain * zem + obs[:, S["gravity"]]
