"""Intercept environment: API checks, equivalence, determinism, invariants, honesty."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import hlynr.envs.intercept as intercept
from hlynr.envs.intercept import (
    BatchedInterceptVecEnv,
    InterceptCore,
    InterceptEnv,
    InterceptParams,
    SensorParams,
)
from hlynr.envs.intercept.params import G0, RewardParams
from hlynr.registries import BATCHED_ENVS, ENV_PARAMS


def _single(seed: int, sensor: dict | None = None, **kw: object) -> gym.Env:
    env: gym.Env = InterceptEnv(**kw, **({} if sensor is None else {"sensor": sensor}))
    env.reset(seed=seed)
    return env


def batched_and_single(n: int, seed: int, sensor: dict, workers: int = 1,
                       **kw: object) -> tuple[BatchedInterceptVecEnv, list[gym.Env]]:
    """A batched env (``workers`` processes) and ``n`` single envs seeded ``seed + i``, both with
    the sensor ``sensor`` and reset; asserts that their first observations are identical."""
    venv = BatchedInterceptVecEnv(n, seed=seed, workers=workers, sensor=sensor, **kw)
    envs: list[gym.Env] = [InterceptEnv(sensor=sensor, **kw) for _ in range(n)]
    obs_b = venv.reset()
    obs_s = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)])
    np.testing.assert_array_equal(obs_b, obs_s)
    return venv, envs


def step_and_compare(venv, envs, act: np.ndarray) -> int:
    """Step the batched env and the single envs alike; assert identical results.

    Single envs are reset where an episode ended (as the VecEnv does automatically). Returns the
    number of episodes that ended in this step.
    """
    obs_b, rew_b, done_b, infos = venv.step(act)
    ends = 0
    for i, e in enumerate(envs):
        o, r, term, trunc, info = e.step(act[i])
        assert done_b[i] == (term or trunc)
        assert rew_b[i] == np.float32(r)
        if term or trunc:
            ends += 1
            np.testing.assert_array_equal(infos[i]["terminal_observation"], o)
            assert infos[i]["miss_distance"] == info["miss_distance"]
            assert infos[i]["termination_reason"] == info["termination_reason"]
            assert infos[i]["TimeLimit.truncated"] == trunc
            o, _ = e.reset()
        np.testing.assert_array_equal(obs_b[i], o)
    return ends


def test_registration() -> None:
    assert intercept.ENV_ID in gym.registry
    assert ENV_PARAMS.get(intercept.ENV_ID) is InterceptParams
    venv = BATCHED_ENVS.get(intercept.ENV_ID)(3, 0, scenario="easy", sensor={"filter": "ca"})
    assert venv.num_envs == 3 and venv.core.tracker is not None and venv.core.tracker.kind == "ca"
    assert venv.reset().shape == (3, intercept.OBS_DIM)
    env = gym.make(intercept.ENV_ID, scenario="lag")
    assert env.reset(seed=1)[0].shape == (intercept.OBS_DIM,)


def test_sensor_defaults_to_radar_and_truth_only_when_asked() -> None:
    assert InterceptParams().sensor == SensorParams(mode="radar", filter="cv")
    assert InterceptEnv().unwrapped.core.tracker is not None
    assert InterceptEnv(sensor={"mode": "truth"}).core.tracker is None
    assert BatchedInterceptVecEnv(2, seed=0).core.tracker is not None
    with pytest.raises(ValueError, match="did you mean 'filter'"):
        InterceptParams(sensor={"filtr": "ca"})
    with pytest.raises(ValueError, match="process_noise"):
        InterceptParams(sensor={"process_noise": float("nan")})
    env = InterceptEnv(sensor={"filter": "ca", "process_noise": 50.0})
    with pytest.raises(ValueError, match="'sensor' is fixed for the life of the env"):
        env.apply_params(sensor={"mode": "truth"})
    env.apply_params(scenario="lag")  # a new preset keeps the sensor
    assert env.core.models[0].sensor == SensorParams(filter="ca", process_noise=50.0)


@pytest.mark.parametrize("sensor", [{"mode": "truth"}, {"mode": "radar", "filter": "ca"}])
def test_check_env(sensor: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(InterceptEnv(sensor=sensor), skip_render_check=True)
        sb3_check_env(InterceptEnv(sensor=sensor), warn=False)


@pytest.mark.parametrize(("scenario", "sensor"), [
    ("standard", {"mode": "truth"}), ("manoeuvring", {"mode": "radar", "filter": "cv"}),
    ("sensor", {"mode": "radar", "filter": "ca"}),
])
def test_batched_equals_single_envs(sensor: dict, scenario: str) -> None:
    n, seed, steps = 3, 7, 200
    kw = {"scenario": scenario, "radar_delay": 0.1} if scenario == "sensor" else {"scenario": scenario}
    venv, envs = batched_and_single(n, seed, sensor, **kw)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(steps):
        ends += step_and_compare(venv, envs, rng.uniform(-1, 1, (n, 2)).astype(np.float32))
    assert ends >= 1  # the comparison covered automatic resets


def test_seeded_determinism() -> None:
    def rollout(seed: int) -> np.ndarray:
        venv = BatchedInterceptVecEnv(4, scenario="manoeuvring")
        venv.seed(seed)
        out = [venv.reset()]
        rng = np.random.default_rng(3)
        for _ in range(200):
            out.append(venv.step(rng.uniform(-1, 1, (4, 2)))[0])
        return np.stack(out)

    a, b, c = rollout(11), rollout(11), rollout(12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_physical_invariants() -> None:
    core = InterceptCore(64, {"scenario": "manoeuvring", "sensor": {"mode": "radar"}})
    core.seed_idx(np.arange(64), list(range(64)))
    core.reset_idx(np.arange(64))
    rng = np.random.default_rng(0)
    a_max = core.P["accel_limit_g"] * G0
    for _ in range(400):
        _, reward, term, trunc, _ = core.step(rng.uniform(-1.5, 1.5, (64, 2)))
        assert (core.fuel >= 0.0).all()
        assert (np.linalg.norm(core.ma, axis=0) <= a_max * (1 + 1e-9)).all()
        assert (np.linalg.norm(core.last_accel_cmd, axis=0) <= a_max * (1 + 1e-9)).all()
        lat_dot_v = np.abs((core.ma * core.mv).sum(0)) / np.linalg.norm(core.mv, axis=0)
        # perpendicular to v up to the velocity's rotation within one sub-step (|a|^2 dt / |v|)
        assert (lat_dot_v < 0.01 * a_max).all()
        rw = RewardParams()
        assert (np.abs(reward) <= rw.success + rw.miss + rw.shaping + rw.control).all()
        done = np.flatnonzero(term | trunc)
        if done.size:
            core.reset_idx(done)


def test_closest_approach_catches_fast_pass() -> None:
    """A 3 km/s crossing passes 3 m from the threat between two step ends 70 m and 80 m away."""
    env = InterceptEnv(scenario="easy", substeps=1, kill_radius=10.0)
    env.reset(seed=0)
    c = env.core
    c.mp[:, 0], c.mv[:, 0], c.ma[:, 0] = [0.0, 0.0, 3000.0], [1000.0, 0.0, 0.0], 0.0
    c.tp[:, 0], c.tv[:, 0] = [70.0, 3.0, 3000.0], [-2000.0, 0.0, 0.0]
    c.min_dist[0] = np.inf
    start = np.linalg.norm(c.tp[:, 0] - c.mp[:, 0])
    _, _, term, trunc, info = env.step(np.zeros(2, dtype=np.float32))
    end = np.linalg.norm(c.tp[:, 0] - c.mp[:, 0])
    assert start > 60 and end > 60  # an end-of-step check would call this a miss
    assert term and not trunc and info["is_success"] and info["termination_reason"] == "intercept"
    assert info["miss_distance"] < 3.1


def test_time_limit_is_truncation() -> None:
    env = _single(0, {"mode": "radar"}, max_time=1.0)
    for _ in range(100):
        _, _, term, trunc, info = env.step(np.zeros(2, dtype=np.float32))
        if term or trunc:
            break
    assert trunc and not term and info["termination_reason"] == "time_limit"
    assert info["is_success"] is False and np.isfinite(info["miss_distance"])
    assert set(info) >= {"is_success", "miss_distance", "time_to_intercept", "fuel_remaining",
                         "termination_reason", "termination_code"}


def test_radar_mode_never_sees_the_true_threat() -> None:
    """Without detections, moving the true threat changes nothing the policy sees or does."""
    def run(perturb: bool) -> np.ndarray:
        core = InterceptCore(2, {"scenario": "standard", "radar_max_range": 1.0, "sensor": {"mode": "radar"}})
        core.seed_idx(np.arange(2), [5, 6])
        out = [core.reset_idx(np.arange(2))]
        for k in range(60):
            if perturb and k == 10:
                core.tp += np.array([[300.0], [-200.0], [100.0]])
                core.tv += 50.0
            out.append(core.step(np.full((2, 2), 0.3))[0])
        return np.stack(out)

    np.testing.assert_array_equal(run(False), run(True))


def test_bad_scenario_and_params_fail_clearly() -> None:
    with pytest.raises(ValueError, match="did you mean 'standard'"):
        InterceptParams(scenario="standrd")
    with pytest.raises(ValueError, match="kill_radius"):
        InterceptParams(kill_radius=-1.0)
    with pytest.raises(ValueError, match="did you mean 'kill_radius'"):
        InterceptParams(kill_radus=3.0)
    with pytest.raises(ValueError, match="radar_rate"):
        InterceptParams(radar_rate=7.0)
    with pytest.raises(ValueError, match="target_speed_min"):
        InterceptParams(target_speed_min=900.0, target_speed_max=500.0)
    with pytest.raises(ValueError):
        gym.make(intercept.ENV_ID, scenario="nope")


def test_apply_params_for_curriculum() -> None:
    venv = BatchedInterceptVecEnv(4, seed=0, scenario="standard")
    venv.reset()
    venv.env_method("apply_params", kill_radius=50.0, target_accel_g=6.0)
    assert (venv.core.P["kill_radius"] == 10.0).all()  # not before the next reset
    venv.core.reset_idx(np.arange(4))
    assert (venv.core.P["kill_radius"] == 50.0).all() and (venv.core.P["target_accel_g"] == 6.0).all()
    venv.env_method("apply_params", indices=[1], kill_radius=5.0)
    venv.core.reset_idx(np.arange(4))
    assert list(venv.core.P["kill_radius"]) == [50.0, 5.0, 50.0, 50.0]
    with pytest.raises(ValueError, match="did you mean 'kill_radius'"):
        venv.env_method("apply_params", kill_radiu=1.0)
    with pytest.raises(ValueError, match="kill_radius"):
        venv.env_method("apply_params", kill_radius=-2.0)
    with pytest.raises(ValueError, match="control_rate"):
        venv.env_method("apply_params", control_rate=50.0)
    # single envs through SB3's DummyVecEnv
    dummy = DummyVecEnv([lambda: InterceptEnv()])
    dummy.env_method("apply_params", kill_radius=30.0)
    dummy.reset()
    assert dummy.envs[0].unwrapped.core.P["kill_radius"][0] == 30.0


def test_track_error_small_with_predict_then_update() -> None:
    """The in-env CV track follows a 3 g weaving threat closely (the predecessor's: ~150 m, 220 m/s)."""
    core = InterceptCore(64, {"scenario": "standard", "sensor": {"mode": "radar"}})
    core.seed_idx(np.arange(64), list(range(64)))
    core.reset_idx(np.arange(64))
    pos_err, vel_err = [], []
    for _ in range(80):
        _, _, term, trunc, _ = core.step(np.zeros((64, 2)))
        p, v, _, pos_std, _ = core.tracker.estimate()
        live = ~(term | trunc)
        pos_err.append(np.linalg.norm(p - core.tp, axis=0)[live])
        vel_err.append(np.linalg.norm(v - core.tv, axis=0)[live])
        done = np.flatnonzero(~live)
        if done.size:
            core.reset_idx(done)
    assert np.median(np.concatenate(pos_err)) < 15.0
    assert np.median(np.concatenate(vel_err)) < 40.0


def test_batched_equals_single_envs_with_batched_reset_cache_and_curriculum() -> None:
    """Enough envs (>= 16) that next-episode initial states are precomputed in batches; a
    curriculum change on some envs mid-run must invalidate their precomputed states."""
    n, seed, steps = 20, 3, 160
    kw = {"scenario": "manoeuvring"}
    sensor = {"mode": "radar", "filter": "ca"}
    venv, envs = batched_and_single(n, seed, sensor, **kw)
    rng = np.random.default_rng(5)
    ends = 0
    for step in range(steps):
        if step == 60:  # curriculum on a subset (changes initial states): from each env's next reset
            change = {"kill_radius": 20.0, "target_accel_g": 4.0, "target_maneuver": "random"}
            venv.env_method("apply_params", indices=list(range(0, n, 3)), **change)
            for i in range(0, n, 3):
                envs[i].unwrapped.apply_params(**change)
        ends += step_and_compare(venv, envs, rng.uniform(-1.2, 1.2, (n, 2)).astype(np.float32))
    assert ends >= 2 * n // 3  # several batched refills of the reset cache happened


def test_copied_core_keeps_parameter_views() -> None:
    """``P[name]`` are views of one parameter matrix; a (deep)copy must keep them linked, so a
    curriculum change applied to the copy reaches its resets exactly as in the original."""
    import copy
    import pickle

    for duplicate in (copy.deepcopy, lambda c: pickle.loads(pickle.dumps(c))):
        core = InterceptCore(20, {"scenario": "standard", "sensor": {"mode": "radar"}})
        core.seed_idx(np.arange(20), list(range(20)))
        core.reset_idx(np.arange(20))
        clone = duplicate(core)
        for c in (core, clone):
            c.apply_params([2, 5], target_speed_min=1000.0, target_speed_max=1100.0)
        a, b = core.reset_idx(np.arange(20)), clone.reset_idx(np.arange(20))
        np.testing.assert_array_equal(a, b)
        speed = np.sqrt((clone.tv**2).sum(0))
        assert (speed[[2, 5]] >= 1000.0 - 1e-9).all() and (speed[[0, 1, 3]] < 600.0).all()
