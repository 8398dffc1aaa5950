"""Aircraft dynamics of ``hlynr/ATC-v0``: commanded heading and airspeed through first-order lags.

An action ``[a_h, a_v]`` in ``[-1, 1]`` commands a heading ``psi + a_h * max_heading_change`` and
an airspeed ``clip(v + a_v * max_speed_change, v_min, v_max)``, both relative to the state at
the start of the step. Over one step of ``dt`` seconds each state moves toward its command like a
first-order lag (time constant ``tau``: the fraction ``1 - exp(-dt / tau)`` of the error is
removed), limited by the turn rate and the acceleration limit. The position advances by the mean
of the start and end velocity vectors times ``dt`` (the trapezoid rule: exact for constant
velocity, second-order accurate in a turn). No wind: airspeed is ground speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hlynr.envs.atc.params import ATCParams
from hlynr.envs.atc.units import KT, heading_vector, wrap_angle


@dataclass(frozen=True)
class Limits:
    """SI performance limits and step constants derived from :class:`ATCParams`."""

    dt: float
    v_min: float
    v_max: float
    v_cruise: float
    turn_rate: float
    accel: float
    heading_gain: float
    speed_gain: float
    max_dpsi: float
    max_dv: float

    @classmethod
    def from_params(cls, p: ATCParams) -> Limits:
        """Convert the aviation-unit parameters."""
        return cls(
            dt=p.dt_s, v_min=p.min_speed_kt * KT, v_max=p.max_speed_kt * KT,
            v_cruise=p.cruise_speed_kt * KT, turn_rate=np.deg2rad(p.max_turn_rate_deg_s),
            accel=p.max_accel_kt_s * KT, heading_gain=1.0 - np.exp(-p.dt_s / p.heading_tau_s),
            speed_gain=1.0 - np.exp(-p.dt_s / p.speed_tau_s),
            max_dpsi=np.deg2rad(p.max_heading_change_deg), max_dv=p.max_speed_change_kt * KT,
        )


def commands(heading: np.ndarray, speed: np.ndarray, action: np.ndarray, lim: Limits) -> tuple[np.ndarray, np.ndarray]:
    """Commanded heading (rad) and airspeed (m/s) of ``action[..., 2]`` in ``[-1, 1]``."""
    a = np.clip(action, -1.0, 1.0)
    psi_c = heading + a[..., 0] * lim.max_dpsi
    v_c = np.clip(speed + a[..., 1] * lim.max_dv, lim.v_min, lim.v_max)
    return psi_c, v_c


def step(
    pos: np.ndarray, heading: np.ndarray, speed: np.ndarray, action: np.ndarray, lim: Limits
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New ``(pos, heading, speed)`` after one step; arrays of any common leading shape."""
    psi_c, v_c = commands(heading, speed, action, lim)
    dpsi = np.clip(wrap_angle(psi_c - heading) * lim.heading_gain,
                   -lim.turn_rate * lim.dt, lim.turn_rate * lim.dt)
    dv = np.clip((v_c - speed) * lim.speed_gain, -lim.accel * lim.dt, lim.accel * lim.dt)
    h1 = wrap_angle(heading + dpsi)
    v1 = np.clip(speed + dv, lim.v_min, lim.v_max)
    vel0 = speed[..., None] * heading_vector(heading)
    vel1 = v1[..., None] * heading_vector(h1)
    return pos + 0.5 * lim.dt * (vel0 + vel1), h1, v1
