"""User code by explicit module:Class path, and components from installed plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hlynr_testing import REPO

from hlynr.algos.builder import build_model
from hlynr.config import ConfigError, dump_config, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.training.runner import start_run

HERE = Path(__file__).resolve().parent
U = "zoo_usercode"


def _config(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "user", "total_timesteps": 256, "torch_threads": 1,
                            "env": {"id": "CartPole-v1", "n_envs": 2},
                            "algo": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64}}}
    base.update(over)
    return base


def test_env_and_vec_wrappers_by_path_wrap_in_order() -> None:
    config = validate_config(_config(wrappers=[
        {f"{U}:ScaleReward": {"scale": 3.0}}, {f"{U}:OffsetObservation": {"offset": 5.0}},
        {"normalize": {"norm_obs": False, "norm_reward": False}}]))
    venv = build_vec_env(config)
    obs = venv.reset()
    assert np.all(np.abs(obs - 5.0) < 0.1)  # CartPole starts near 0; the offset is applied
    _, rewards, _, _ = venv.step(np.zeros(2, dtype=int))
    assert np.allclose(rewards, 3.0)
    assert type(venv.venv).__name__ == "OffsetObservation"
    saved = dump_config(config)["wrappers"]
    assert saved[0] == {f"{U}:ScaleReward": {"scale": 3.0}}  # only what the config sets
    assert validate_config({**dump_config(config)}).wrappers[0].params.scale == 3.0


@pytest.mark.parametrize("wrapper, message", [
    ({f"{U}:ScaleReward": {}}, "scale: required key is missing"),
    ({f"{U}:ScaleReward": {"scale": 1.0, "scal": 2}}, "unknown key 'scal'"),
    ({f"{U}:ScaleReward": {"scale": "big"}}, "scale"),
    ({f"{U}:NotAWrapper": {}}, "is not a gymnasium.Wrapper or VecEnvWrapper"),
    ({f"{U}:Missing": {}}, "has no attribute 'Missing'"),
    ({"no_such_module_xyz:Thing": {}}, "cannot import module 'no_such_module_xyz'"),
])
def test_wrapper_paths_are_checked_before_anything_runs(wrapper: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(_config(wrappers=[wrapper]))


def test_callback_by_path_runs_with_its_arguments(tmp_path: Path) -> None:
    out = tmp_path / "count.json"
    config = validate_config(_config(callbacks=[{f"{U}:CountSteps": {"path": str(out)}}]))
    start_run(config, runs_dir=tmp_path / "runs")
    counted = json.loads(out.read_text())
    assert counted["timesteps"] == 256 and counted["steps"] == 128  # 2 envs per step
    with pytest.raises(ConfigError, match="is not a stable_baselines3 BaseCallback"):
        validate_config(_config(callbacks=[f"{U}:ScaleReward"]))


def test_policy_and_features_extractor_by_path() -> None:
    config = validate_config(_config(algo={
        "name": "PPO", "policy": f"{U}:WidePolicy",
        "hyperparams": {"n_steps": 64, "batch_size": 64},
        "policy_kwargs": {"features_extractor_class": f"{U}:TinyExtractor",
                          "features_extractor_kwargs": {"features_dim": 5}}}))
    venv = build_vec_env(config)
    model = build_model(config, venv)
    assert type(model.policy).__name__ == "WidePolicy"
    assert type(model.policy.features_extractor).__name__ == "TinyExtractor"
    assert model.policy.features_extractor.features_dim == 5
    assert model.policy.mlp_extractor.policy_net[0].out_features == 7
    with pytest.raises(ConfigError, match="unknown key 'feature_dim'"):
        validate_config(_config(algo={"name": "PPO", "policy_kwargs": {
            "features_extractor_class": f"{U}:TinyExtractor",
            "features_extractor_kwargs": {"feature_dim": 5}}}))
    with pytest.raises(ConfigError, match="is not a ActorCriticPolicy"):
        validate_config(_config(algo={"name": "PPO", "policy": f"{U}:TinyExtractor"}))
    with pytest.raises(ConfigError, match="policy for SAC"):
        validate_config({**_config(algo={"name": "SAC", "policy": f"{U}:WidePolicy"}),
                         "env": {"id": "Pendulum-v1"}})


def test_env_class_by_path_needs_no_registration_and_monitor_info_keywords() -> None:
    config = validate_config(_config(env={
        "id": f"{U}:LineEnv", "n_envs": 2, "kwargs": {"horizon": 3},
        "monitor_kwargs": {"info_keywords": ["distance"]}}))
    venv = build_vec_env(config)
    venv.reset()
    episodes = []
    for _ in range(3):
        *_, infos = venv.step(np.zeros(2, dtype=int))
        episodes += [i["episode"] for i in infos if "episode" in i]
    assert len(episodes) == 2 and all(e["distance"] == pytest.approx(1.75) for e in episodes)
    with pytest.raises(ConfigError, match="unknown keyword for zoo_usercode:LineEnv"):
        validate_config(_config(env={"id": f"{U}:LineEnv", "kwargs": {"horizn": 3}}))
    with pytest.raises(ConfigError, match="monitor_kwargs.info_keyword"):
        validate_config(_config(env={"id": "CartPole-v1", "monitor_kwargs": {"info_keyword": []}}))


def _fake_distribution(root: Path) -> Path:
    """A tiny installed package with two hlynr.components entry points (a class, a function)."""
    pkg = root / "hlynr_fake_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import gymnasium as gym\n"
        "from hlynr.registries import CALLBACKS\n"
        "class Negate(gym.RewardWrapper):\n"
        "    def __init__(self, env, factor: float = -1.0):\n"
        "        super().__init__(env); self.factor = factor\n"
        "    def reward(self, r): return self.factor * r\n"
        "def register():\n"
        "    from hlynr.config.components import user_callback\n"
        "    CALLBACKS.register('counting', user_callback('zoo_usercode:CountSteps'))\n")
    info = root / "hlynr_fake_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hlynr-fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[hlynr.components]\nnegate = hlynr_fake_plugin:Negate\n"
        "extra_callbacks = hlynr_fake_plugin:register\n")
    return root


def test_plugin_entry_points_register_named_components(tmp_path: Path) -> None:
    site = _fake_distribution(tmp_path / "site")
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: plug\ntotal_timesteps: 128\nenv: {id: CartPole-v1}\n"
        "wrappers: [{negate: {factor: -2.0}}, {'zoo_usercode:ScaleReward': {scale: 1.0}}]\n"
        f"callbacks: [{{counting: {{path: {tmp_path / 'n.json'}}}}}]\n"
        "algo: {name: PPO, hyperparams: {n_steps: 64, batch_size: 64}}\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE), str(site)])}
    out = subprocess.run([sys.executable, str(REPO / "train.py"), "-c", str(config), "--check"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "imports user code: zoo_usercode:ScaleReward, negate (plugin hlynr-fake-plugin: " \
           "hlynr_fake_plugin:Negate)" in text
    code = ("import hlynr, numpy as np\n"
            "from hlynr.zoo import load_config\n"
            "from hlynr.envs.factory import build_vec_env\n"
            f"venv = build_vec_env(load_config({str(config)!r}).config)\n"
            "venv.reset(); print(venv.step(np.zeros(1, dtype=int))[1][0])\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout.strip().splitlines()[-1]) == -2.0


def test_user_env_and_wrapper_in_subprocess_workers() -> None:
    config = validate_config(_config(env={"id": f"{U}:LineEnv", "n_envs": 2,
                                          "vectoriser": "subproc"},
                                     wrappers=[{f"{U}:ScaleReward": {"scale": 10.0}}]))
    venv = build_vec_env(config)
    try:
        venv.reset()
        rewards = []
        for _ in range(4):  # four steps right: the line's end, reward 1 scaled by 10
            _, r, _, _ = venv.step(np.ones(2, dtype=int))
            rewards.append(r)
        assert np.allclose(rewards[-1], 10.0) and np.allclose(rewards[0], 0.0)
    finally:
        venv.close()


def test_a_module_that_fails_while_importing_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "broken_usercode_mod.py").write_text("raise RuntimeError('boom at import')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ConfigError, match="RuntimeError: boom at import"):
            validate_config(_config(wrappers=["broken_usercode_mod:Thing"]))
        with pytest.raises(ConfigError, match="RuntimeError: boom at import"):
            validate_config(_config(env={"id": "broken_usercode_mod:Env"}))
    finally:
        sys.path.remove(str(tmp_path))
