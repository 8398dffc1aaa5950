"""The ``residual_guidance`` wrapper: a learned correction on top of a guidance baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hlynr.config import ConfigError, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.guidance.residual import ResidualGuidanceVecWrapper

SENSOR = {"mode": "radar", "filter": "ca"}


def _config(wrappers: list[Any], env_id: str = "hlynr/Intercept-v0", **env_kwargs: Any) -> dict[str, Any]:
    kwargs = {"scenario": "manoeuvring", "sensor": SENSOR, **env_kwargs}
    env = {"id": env_id, "kwargs": kwargs if env_id.startswith("hlynr") else {},
           "n_envs": 4, "vectoriser": "batched" if env_id.startswith("hlynr") else "dummy"}
    return {"name": "t", "total_timesteps": 1000, "env": env, "wrappers": wrappers,
            "algo": {"name": "PPO", "policy": "MlpPolicy"}}


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(data, "cfg.yaml")
    return str(info.value)


def _rollout(venv: Any, policy: Any, steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    obs = venv.reset()
    seen, rewards = [obs], []
    for _ in range(steps):
        obs, rew, _, _ = venv.step(policy(obs))
        seen.append(obs)
        rewards.append(rew)
    return seen, rewards


def test_zero_residual_flies_the_baseline_exactly() -> None:
    """A zero correction gives exactly the baseline's trajectory (automatic resets included)."""
    from hlynr.registries import BASELINES

    resid = validate_config(_config([{"residual_guidance": {"baseline": "pn", "params": {"N": 6}}}]))
    plain = validate_config(_config([]))
    venv_r = build_vec_env(resid, n_envs=8, seed=3)
    venv_p = build_vec_env(plain, n_envs=8, seed=3)
    entry = BASELINES.get("pn")
    pn = entry.factory(venv_p.observation_space, venv_p.action_space, entry.params(N=6))
    obs_r, rew_r = _rollout(venv_r, lambda o: np.zeros((8, 2), np.float32), 300)
    obs_p, rew_p = _rollout(venv_p, lambda o: pn.predict(o)[0], 300)
    np.testing.assert_array_equal(np.array(obs_r), np.array(obs_p))
    np.testing.assert_array_equal(np.array(rew_r), np.array(rew_p))
    assert any(r.any() for r in rew_r)


def test_residual_command_is_clipped_sum_of_baseline_and_scaled_action() -> None:
    """The wrapped env receives clip(baseline(last obs) + scale * action, -1, 1)."""
    sent: list[np.ndarray] = []

    class Recorder:
        num_envs = 3
        observation_space = action_space = None

        def reset(self) -> np.ndarray:
            return np.full((3, 4), 0.5)

        def step_async(self, actions: np.ndarray) -> None:
            sent.append(actions)

        def step_wait(self) -> tuple[Any, ...]:
            return np.full((3, 4), -0.25), np.zeros(3), np.zeros(3, bool), [{}] * 3

    class Half:  # baseline: the first observation entry on both axes
        def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
            return np.repeat(obs[:, :1], 2, axis=1), None

    wrapper = ResidualGuidanceVecWrapper.__new__(ResidualGuidanceVecWrapper)
    wrapper.venv, wrapper.baseline, wrapper.scale, wrapper._obs = Recorder(), Half(), 0.5, None
    wrapper.correction_cost, wrapper._cost = 0.0, 0.0
    with pytest.raises(RuntimeError, match="reset"):
        wrapper.step_async(np.zeros((3, 2)))
    wrapper.reset()
    wrapper.step_async(np.array([[0.2, -0.2], [1.0, 1.0], [-1.0, -1.0]]))
    np.testing.assert_allclose(sent[0], [[0.6, 0.4], [1.0, 1.0], [0.0, 0.0]])
    assert sent[0].dtype == np.float32
    wrapper.step_wait()  # the next command uses the new observation (-0.25)
    wrapper.step_async(np.zeros((3, 2)))
    np.testing.assert_allclose(sent[1], np.full((3, 2), -0.25))


@pytest.mark.parametrize("sensor, wrappers, fragment", [
    (SENSOR, [{"residual_guidance": {"baseline": "pnn"}}], "did you mean 'pn'"),
    (SENSOR, [{"residual_guidance": {"baseline": "pn", "params": {"n": 6}}}], "did you mean 'N'"),
    (SENSOR, [{"residual_guidance": {"baseline": "pn", "params": {"N": -1}}}], "greater than 0"),
    (SENSOR, [{"residual_guidance": {"baseline": "pn", "scal": 1}}], "did you mean 'scale'"),
    (SENSOR, [{"frame_stack": {"n_stack": 2}}, {"residual_guidance": {"baseline": "pn"}}],
     "put it before 'frame_stack'"),
    ({"filter": "cv"}, [{"residual_guidance": {"baseline": "apn"}}],
     "needs env.kwargs.sensor: {filter: ca} (the config has sensor.filter: cv)"),
    (SENSOR, [{"residual_guidance": {"baseline": "truth_pn"}}],
     "needs env.kwargs.sensor: {mode: truth} (the config has sensor.mode: radar)"),
    ({}, [{"residual_guidance": {"baseline": "apn"}}], "(the config has sensor.filter: cv)"),
])
def test_bad_residual_configs_fail_clearly(sensor: dict[str, Any], wrappers: list[Any], fragment: str) -> None:
    message = _error(_config(wrappers, sensor=sensor))
    assert fragment in message and "residual_guidance" in message


def test_residual_on_an_env_the_baseline_cannot_drive_fails() -> None:
    message = _error(_config([{"residual_guidance": {"baseline": "pn"}}], env_id="CartPole-v1"))
    assert "baseline 'pn' drives hlynr/Intercept-v0, not CartPole-v1" in message


def test_residual_accepted_when_the_sensor_path_matches_the_baseline() -> None:
    cfg = validate_config(_config([{"residual_guidance": {"baseline": "apn", "params": {"N": 5}}},
                                   {"frame_stack": {"n_stack": 2}}]))
    params = cfg.wrappers[0].params
    assert params.params == {"N": 5.0} and params.scale == 1.0


def test_evaluate_scores_baseline_parameters_with_a_paired_comparison(tmp_path: Any) -> None:
    """``--baseline pn:N=6`` uses N=6; rows below rank 1 get a paired difference on the same seeds."""
    import json

    from hlynr_testing import REPO

    from hlynr.cli.common import run_main
    from hlynr.cli.evaluate import main as evaluate_main

    out = tmp_path / "scores.json"
    cfg = str(REPO / "configs/intercept/ppo_manoeuvring.yaml")
    assert run_main(evaluate_main, ["--config", cfg, "--baseline", "pn:N=6", "--baseline", "pn:N=2",
                                    "--baseline", "zero", "-n", "40", "--seed", "10000",
                                    "--n-envs", "20", "--json", str(out)]) == 0
    rows = {r["label"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {"baseline:pn:N=6", "baseline:pn:N=2", "baseline:zero"}
    n6, n2 = rows["baseline:pn:N=6"], rows["baseline:pn:N=2"]
    assert n6["metrics"]["success_rate"] > n2["metrics"]["success_rate"]  # the parameter is used
    assert "paired_vs_first" not in n6
    paired = n2["paired_vs_first"]
    wins6 = [e["success"] for e in n6["episodes"]]
    wins2 = [e["success"] for e in n2["episodes"]]
    assert paired["first"] == "baseline:pn:N=6"
    assert paired["only_first"] == sum(a and not b for a, b in zip(wins6, wins2))
    assert paired["only_second"] == sum(b and not a for a, b in zip(wins6, wins2))
    assert paired["difference"] == pytest.approx(np.mean(wins6) - np.mean(wins2))
