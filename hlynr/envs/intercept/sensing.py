"""Sensing: the radar scan and Kalman update each step, and the target estimate the observation uses.

``sensor.mode: radar`` (:class:`~hlynr.envs.intercept.params.SensorParams`): the seeker radar on
the interceptor scans every ``control_rate / radar_rate`` steps (detection, range/angle noise),
a :class:`~hlynr.tracking.tracker.BatchTracker` (CV or CA filter; an
:class:`~hlynr.tracking.tracker.IMMTracker` with ``filter: imm``) predicts every step and updates
on detections, and the observation is built from its estimate. ``mode: truth``: the true threat state and
manoeuvre acceleration take its place (track quality rows 0, always "detected").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlynr.envs.intercept import rng
from hlynr.envs.intercept.observation import INPUT_ROWS, INPUT_SCALARS
from hlynr.envs.intercept.params import SensorParams
from hlynr.envs.intercept.physics import unit
from hlynr.tracking import radar
from hlynr.tracking.tracker import BatchTracker, IMMTracker


def make_tracker(n: int, sensor: SensorParams, dt: float, delay_steps: int) -> BatchTracker | None:
    """The tracker of ``n`` envs for ``sensor`` (``None`` in truth mode)."""
    if sensor.mode != "radar":
        return None
    if sensor.filter == "imm":
        return IMMTracker(n, dt, sensor.imm_models(), delay_steps)
    return BatchTracker(n, sensor.filter, dt, delay_steps)


def radar_scan(tracker: BatchTracker, r: np.ndarray, r_sq: np.ndarray, rng_: np.ndarray,
               own_p: np.ndarray, own_v: np.ndarray, ep_key: np.ndarray, k: np.ndarray,
               P: dict[str, np.ndarray], D: dict[str, np.ndarray], scan_every_step: bool) -> None:
    """Radar scan (every ``control_rate / radar_rate`` steps) and Kalman predict/update;
    ``r`` (3, n) true relative position, ``r_sq = r * r``, ``rng_ = norm(r)``, ``k`` the step
    counters after this step."""
    n = r.shape[1]
    u = rng.uniforms(ep_key, rng.STREAM_RADAR, k, 5)
    # Box-Muller: normals (range, azimuth, elevation) from uniform pairs (1, 2) and (3, 4),
    # both pairs per call (float32 trigonometry: float32 * float64 promotes exactly)
    rad = np.sqrt(-2.0 * np.log(u[1:4:2]))
    ang = (2.0 * np.pi * u[2:5:2]).astype(np.float32)
    noise = np.empty((3, n))
    np.multiply(rad, np.cos(ang), out=noise[0::2])
    np.multiply(rad[0], np.sin(ang[0]), out=noise[1])
    noise *= D["radar_sigma"]
    boresight, _ = unit(own_v)
    det = radar.detect(r, boresight, P["radar_max_range"], D["fov_cos"], P["radar_pd_max"],
                       P["radar_pd_exponent"], u[0], rng_)
    if not scan_every_step:
        det &= (k % D["every"]) == 0
    z, r_m = radar.measure_scaled(r, r_sq, noise)
    r_var = r_m * P["radar_angle_noise"]
    r_var *= r_var
    r_var += D["range_var"]  # = radar.axis_variance(r_m, range noise, angle noise)
    z += own_p
    tracker.step(k, z, r_var, det, D["q_var"])


def write_target_estimate(out: np.ndarray, sel: Any, tracker: BatchTracker | None,
                          truth_accel: Any) -> None:
    """Write the target-estimate rows of the observation inputs ``out`` (N_INPUTS, m) for envs
    ``sel``: the track (radar mode) or, in truth mode, the true threat acceleration
    (``truth_accel(out_rows)`` writes it; the true position/velocity rows are already in place)."""
    R, S = INPUT_ROWS, INPUT_SCALARS
    if tracker is None:
        truth_accel(out[R["tgt_a"]])
        out[S["pos_std"]:S["since_det"] + 1] = 0.0
        out[R["detected"]] = 1.0
    else:
        tracker.write_estimate(sel, out[R["tgt_p"]], out[R["tgt_v"]], out[R["tgt_a"]],
                               out[S["pos_std"]:S["vel_std"] + 1], out[R["since_det"]],
                               out[R["detected"]])
