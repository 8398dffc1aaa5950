"""Reference trajectories of hlynr/Intercept-v0: a recorder and its stored fixture.

:func:`record` steps a batched env and a single env for each case of :data:`CASES` (every
scenario preset with the truth, CV and CA observations, plus a delayed-radar case) under
observation-dependent actions (noisy PN, some out of range so clipping is exercised), and
returns observations, rewards, ends and final-step infos as arrays. ``trajectories.npz`` holds
these arrays as recorded on one machine; ``test_trajectories.py`` requires today's engine to
reproduce them within :data:`RTOL` and :data:`ATOL` (:func:`assert_matches`; ends, indices and
dtypes exactly). Observations are stored every ``OBS_EVERY`` steps. Run
``python tests/intercept/intercept_trajectories.py`` to rewrite the fixture (only for an intended
change of behaviour).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FIXTURE = Path(__file__).parent / "data" / "trajectories.npz"
STEPS = 240
N_ENVS = 3
OBS_EVERY = 24
STATS = ("miss_distance", "time_to_intercept", "episode_time", "fuel_remaining", "termination_code")

CASES: tuple[tuple[str, str, dict[str, Any], dict[str, Any]], ...] = tuple(
    (f"{scenario}_{label}", scenario, sensor, {})
    for scenario in ("standard", "manoeuvring", "sensor", "lag", "fast")
    for label, sensor in (("truth", {"mode": "truth"}), ("cv", {"mode": "radar", "filter": "cv"}),
                          ("ca", {"mode": "radar", "filter": "ca"}))
) + (("sensor_ca_delay", "sensor", {"mode": "radar", "filter": "ca", "process_noise": 100.0},
      {"radar_delay": 0.1, "target_maneuver": "random", "target_accel_g": 8.0}),)
"""(case name, scenario, sensor settings, extra env parameters)."""

# Tolerance of a recording made on another machine. The engine's arithmetic is deterministic, but
# the transcendental functions it calls (exp, log, sin, cos, arctan2 in float64 and float32) are
# not correctly rounded: NumPy picks a SIMD implementation per CPU (AVX-512, AVX2, baseline) and
# the libm differs between systems, so another x86-64 CPU may return a result one unit in the last
# place away. The trajectories are closed loop (the actions come from float32 observations, the
# Kalman filters feed on radar noise drawn through log/cos) and 240 steps long, so such a
# difference grows: with every transcendental result moved by up to one ulp at random
# (``test_last_bit_differences_stay_within_tolerance``) the worst deviation measured over 12 draws
# of that model was 0.43 of this tolerance (about 4e-5 absolute in observations, 4e-4 relative),
# while real CPUs differ far less (2e-13 relative between the recording machine and an AMD EPYC).
# A real change of behaviour moves the trajectories by far more than that: gravity 9.80665 ->
# 9.81 m/s^2, drag or the threat's manoeuvre 0.1 % stronger, or the radar noise drawn from another
# stream exceed it 10x to 10^4x (``test_tolerance_catches_behaviour_changes``). Integer-valued
# columns (steps, env indices, termination codes) stay exact under it (rtol * 240 < 1).
RTOL = 1e-3
"""Relative tolerance of a float array against its recording (see the comment above)."""
ATOL = 1e-4
"""Absolute tolerance, for values near zero (observations are O(1), distances m, times s)."""


def make_single(scenario: str, sensor: dict[str, Any], **kw: Any) -> Any:
    """A single gymnasium env of the case."""
    from hlynr.envs.intercept import InterceptEnv

    return InterceptEnv(scenario=scenario, sensor=sensor, **kw)


def make_batched(n: int, seed: int, scenario: str, sensor: dict[str, Any], **kw: Any) -> Any:
    """A batched VecEnv of ``n`` envs of the case."""
    from hlynr.envs.intercept import BatchedInterceptVecEnv

    return BatchedInterceptVecEnv(n, seed=seed, scenario=scenario, sensor=sensor, **kw)


def _actions(obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Noisy PN (N' = 4, gravity compensated) from a batch of observations."""
    from hlynr.envs.intercept.observation import OBS_SLICES

    pn, grav = obs[:, OBS_SLICES["pn_accel"]], obs[:, OBS_SLICES["gravity"]]
    return 4.0 * pn.astype(np.float64) + grav + noise


def record(index: int, single: Any = make_single, batched: Any = make_batched) -> dict[str, np.ndarray]:
    """The trajectory arrays of case ``index`` (keys prefixed by the case name)."""
    name, scenario, sensor, kw = CASES[index]
    noise = np.random.default_rng(index).normal(0.0, 0.4, (STEPS, N_ENVS + 1, 2))
    venv = batched(N_ENVS, 1000 * index, scenario, sensor, **kw)
    obs = venv.reset()
    b_obs, b_rew, b_done, b_info, b_term = [obs], [], [], [], []
    for t in range(STEPS):
        obs, rew, done, infos = venv.step(_actions(obs, noise[t, :N_ENVS]).astype(np.float32))
        b_obs.append(obs)
        b_rew.append(rew)
        b_done.append(done)
        for i in np.flatnonzero(done):
            info = infos[i]
            b_info.append([t, i, *[info[k] for k in STATS], info["TimeLimit.truncated"]])
            b_term.append(info["terminal_observation"])
    venv.close()
    env = single(scenario, sensor, **kw)
    o, _ = env.reset(seed=1000 * index + 7)
    s_obs, s_rew, s_end, s_info = [o], [], [], []
    for t in range(STEPS):
        o, r, term, trunc, info = env.step(_actions(o[None], noise[t, N_ENVS:])[0])
        s_obs.append(o)
        s_rew.append(r)
        s_end.append([term, trunc])
        if term or trunc:
            s_info.append([t, *[info[k] for k in STATS], info["is_success"]])
            o, _ = env.reset()
            s_obs.append(o)
    env.close()
    arrays = {
        "batched_obs": np.stack(b_obs), "batched_reward": np.stack(b_rew),
        "batched_done": np.stack(b_done), "batched_info": np.array(b_info, dtype=np.float64).reshape(-1, 8),
        "batched_terminal_obs": np.array(b_term, dtype=np.float32).reshape(-1, 28),
        "single_obs": np.stack(s_obs), "single_reward": np.array(s_rew),
        "single_end": np.array(s_end), "single_info": np.array(s_info, dtype=np.float64).reshape(-1, 7),
    }
    out: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if key.endswith("_obs"):
            value = value[::OBS_EVERY]
        out[f"{name}/{key}"] = value
    return out


def assert_matches(got: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """``got`` (of :func:`record`) reproduces the recorded arrays of the same case in ``reference``:
    the same keys, dtypes and shapes (so the same ends at the same steps), boolean and integer
    arrays exactly, float arrays within :data:`RTOL` / :data:`ATOL`."""
    prefix = next(iter(got)).split("/")[0] + "/"
    assert sorted(got) == sorted(k for k in reference if k.startswith(prefix))
    for key, value in got.items():
        ref = reference[key]
        assert value.dtype == ref.dtype, key
        assert value.shape == ref.shape, f"{key}: shape {value.shape}, recorded {ref.shape}"
        if value.dtype.kind == "f":
            np.testing.assert_allclose(value, ref, rtol=RTOL, atol=ATOL, err_msg=key)
        else:
            np.testing.assert_array_equal(value, ref, err_msg=key)


def record_all(single: Any = make_single, batched: Any = make_batched) -> dict[str, np.ndarray]:
    """The arrays of every case."""
    out: dict[str, np.ndarray] = {}
    for i in range(len(CASES)):
        out.update(record(i, single, batched))
    return out


if __name__ == "__main__":
    np.savez_compressed(FIXTURE, **record_all())
    print(f"wrote {FIXTURE}")
