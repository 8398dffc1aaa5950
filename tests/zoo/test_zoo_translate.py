"""Reading RL Zoo files: the expression whitelist, every Zoo key, errors, the CLI forms."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hlynr_testing import REPO

from hlynr.config import ConfigError, dump_config
from hlynr.config.schedules import LinearSchedule
from hlynr.zoo import (
    UnsupportedExpression,
    ZooError,
    load_config,
    load_zoo,
    parse_expression,
    read_entry,
    translate,
)

ZOO = REPO / "benchmarks" / "zoo_hyperparams"
ZOO_FILES = sorted(ZOO.glob("*.yml"))


def _write(tmp_path: Path, text: str, name: str = "ppo.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- expressions ------------------------------------------------------------------------------

def test_policy_kwargs_strings_become_plain_data() -> None:
    text = ("dict( log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, "
            "net_arch=dict(pi=[256, 256], vf=[256, 256]), optimizer_class=th.optim.AdamW )")
    assert parse_expression(text) == {
        "log_std_init": -2, "ortho_init": False, "activation_fn": "relu",
        "net_arch": {"pi": [256, 256], "vf": [256, 256]}, "optimizer_class": "adamw"}
    assert parse_expression("{'norm_obs': False, 'norm_reward': True}") == {
        "norm_obs": False, "norm_reward": True}
    assert parse_expression("dict(info_keywords=('is_success',))") == {"info_keywords": ["is_success"]}
    assert parse_expression("torch.nn.Tanh") == "tanh"


@pytest.mark.parametrize("text, construct", [
    ("__import__('os').system('true')", "__import__('os').system('true')"),
    ("dict(a=eval('1'))", "eval('1')"),
    ("dict(activation_fn=nn.Identity)", "nn.Identity"),
    ("dict(f=lambda x: x)", "lambda x: x"),
    ("dict(n=2 * 64)", "2 * 64"),
    ("dict(c=os.environ)", "os.environ"),
    ("dict(**{'a': 1})", "dict(...) takes keyword arguments only"),
    ("[x for x in range(3)]", "[x for x in range(3)]"),
    ("dict(a=np.inf)", "np.inf"),
])
def test_anything_outside_the_whitelist_is_named(text: str, construct: str) -> None:
    with pytest.raises(UnsupportedExpression) as info:
        parse_expression(text)
    assert construct in str(info.value)


def test_nothing_is_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(UnsupportedExpression):
        parse_expression(f"open({str(marker)!r}, 'w')")
    assert not marker.exists()


# --- every shipped Zoo file -------------------------------------------------------------------

@pytest.mark.parametrize("path", ZOO_FILES, ids=lambda p: p.name)
def test_every_entry_of_the_shipped_zoo_files_translates(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    for env_id in data:
        entry = read_entry(path, env_id)
        out, _ = translate(entry)
        assert out["total_timesteps"] == int(float(entry.params["n_timesteps"]))
        hyper = out["algo"]["hyperparams"]
        for key in ("learning_rate", "clip_range"):
            raw = entry.params.get(key)
            if isinstance(raw, str):
                assert hyper[key] == {"schedule": "linear", "start": float(raw[4:]), "end": 0.0}
        assert not {"n_envs", "n_timesteps", "normalize", "policy_kwargs", "env_wrapper",
                    "frame_stack", "noise_type", "callback"} & set(hyper)


def test_lin_schedule_is_the_zoos_arithmetic_bit_for_bit() -> None:
    schedule = LinearSchedule(start=7e-4, end=0.0)
    total = 1_000_000
    for n in [0, 1, 8, 37, 499_999, 500_000, 500_001, 777_777, 999_992, total]:
        progress_remaining = 1.0 - float(n) / float(total)  # SB3's formula
        assert schedule(progress_remaining) == progress_remaining * 7e-4


def test_keys_map_to_hlynr_config() -> None:
    config = load_zoo(ZOO / "ppo.yml", "MountainCarContinuous-v0").config
    data = dump_config(config)
    assert data["env"]["n_envs"] == 1 and data["total_timesteps"] == 20000
    assert data["wrappers"][0]["normalize"]["gamma"] == 0.9999  # the Zoo passes gamma on
    assert data["algo"]["policy_kwargs"] == {"ortho_init": False, "log_std_init": -3.29}
    assert data["callbacks"][0] == {"evaluation": {"every": 25000, "episodes": 5,
                                                   "deterministic": True, "n_envs": 1,
                                                   "stage": "final", "stages": None,
                                                   "seed": None}}
    td3 = dump_config(load_zoo(ZOO / "td3.yml", "MountainCarContinuous-v0").config)
    assert td3["algo"]["hyperparams"]["action_noise"] == {
        "type": "ornstein_uhlenbeck", "sigma": 0.5}


def test_default_entry_is_the_fallback_and_frame_stack_wrappers(tmp_path: Path) -> None:
    path = _write(tmp_path, """
default:
  n_timesteps: !!float 2e4
  policy: 'MlpPolicy'
  normalize: "dict(norm_obs=True, norm_reward=False)"
  frame_stack: 3
  env_wrapper:
    - gymnasium.wrappers.TimeLimit: {max_episode_steps: 50}
  learning_rate: lin_3e-4
""")
    loaded = load_zoo(path, "CartPole-v1")
    data = dump_config(loaded.config)
    assert data["total_timesteps"] == 20000
    assert [next(iter(w)) for w in data["wrappers"]] == [
        "gymnasium.wrappers:TimeLimit", "normalize", "frame_stack"]
    assert data["wrappers"][1]["normalize"]["norm_reward"] is False
    assert data["wrappers"][1]["normalize"]["gamma"] == 0.99  # VecNormalize's default
    assert data["wrappers"][2] == {"frame_stack": {"n_stack": 3}}


def test_yaml_anchors_and_merge_keys_of_zoo_files(tmp_path: Path) -> None:
    path = _write(tmp_path, """
base: &base
  n_timesteps: 1000
  n_steps: 64
CartPole-v1:
  <<: *base
  n_steps: 128
""")
    hyper = dump_config(load_zoo(path, "CartPole-v1").config)["algo"]["hyperparams"]
    assert hyper["n_steps"] == 128


def test_a_minibatch_larger_than_the_rollout_is_clamped_with_a_note() -> None:
    loaded = load_zoo(ZOO / "ppo.yml", "MountainCarContinuous-v0")
    assert loaded.config.algo.hyperparams["batch_size"] == 8
    assert "batch_size 256 exceeds the rollout" in loaded.notes[0]


@pytest.mark.parametrize("body, key, fragment", [
    ("  policy_kwargs: 'dict(activation_fn=nn.Softsign)'", "policy_kwargs", "nn.Softsign"),
    ("  policy_kwargs: 'dict(a=print(1))'", "policy_kwargs", "print(1)"),
    ("  learning_rate: exp_0.1", "learning_rate", "unsupported schedule 'exp_0.1'"),
    ("  noise_type: brownian\n  noise_std: 0.1", "noise_type", "unknown noise type"),
    ("  normalize: 'dict(norm_obs=th.zeros(3))'", "normalize", "th.zeros(3)"),
])
def test_errors_name_file_entry_key_and_construct(tmp_path: Path, body: str, key: str,
                                                   fragment: str) -> None:
    path = _write(tmp_path, f"CartPole-v1:\n  n_timesteps: 1000\n{body}\n")
    with pytest.raises(ZooError) as info:
        load_zoo(path, "CartPole-v1")
    msg = str(info.value)
    assert f"{path}:3: entry 'CartPole-v1', key '{key}'" in msg and fragment in msg


def test_hlynr_validation_errors_point_at_the_zoo_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "CartPole-v1:\n  n_timesteps: 1000\n  n_stepz: 64\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: algo.hyperparams.n_stepz: unknown key "
                                          r"'n_stepz' \(did you mean 'n_steps'\?\)"):
        load_zoo(path, "CartPole-v1")


def test_missing_entry_and_unknown_algorithm(tmp_path: Path) -> None:
    path = _write(tmp_path, "Pendulum-v1:\n  n_timesteps: 1000\n")
    with pytest.raises(ZooError, match="no entry for 'CartPole-v1' and no 'default'"):
        read_entry(path, "CartPole-v1")
    with pytest.raises(ZooError, match="unknown RL Zoo algorithm 'ars'"):
        read_entry(_write(tmp_path, "default: {n_timesteps: 1}", "ars.yml"), "Pendulum-v1")


def test_config_form_overrides_any_zoo_value(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(f"""
zoo: {{file: {ZOO / 'ppo.yml'}, env: CartPole-v1}}
name: mine
total_timesteps: 5000
algo:
  hyperparams: {{n_epochs: 3}}
""")
    loaded = load_config(config, ["algo.hyperparams.gamma=0.9"])
    hyper = loaded.config.algo.hyperparams
    assert loaded.config.name == "mine" and loaded.config.total_timesteps == 5000
    assert hyper["n_epochs"] == 3 and hyper["gamma"] == 0.9 and hyper["n_steps"] == 32
    config.write_text("zoo: {file: ppo.yml, enviro: CartPole-v1}\n")
    with pytest.raises(ZooError, match="unknown key 'enviro'"):
        load_config(config)


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests' / 'zoo'}",
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=REPO)


def test_cli_zoo_check_and_errors(tmp_path: Path) -> None:
    ok = _train("--zoo", str(ZOO / "ppo.yml"), "--env", "CartPole-v1", "--check")
    assert ok.returncode == 0, ok.stderr
    assert "config OK (stable_baselines3.PPO on CartPole-v1, 100,000 timesteps)" in ok.stdout
    bad = _write(tmp_path, "CartPole-v1:\n  n_timesteps: 1000\n  policy_kwargs: 'exec(1)'\n")
    out = _train("--zoo", str(bad), "--env", "CartPole-v1", "--check")
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr
    assert "exec(1)" in out.stderr and "policy_kwargs" in out.stderr
    missing = _train("--zoo", str(ZOO / "ppo.yml"), "--check")
    assert missing.returncode == 2 and "--zoo needs --env" in missing.stderr


@pytest.mark.slow
def test_a_config_with_a_zoo_key_passes_check_like_any_config(tmp_path: Path) -> None:
    (tmp_path / "hyperparams").mkdir()
    (tmp_path / "hyperparams" / "ppo.yml").write_text((ZOO / "ppo.yml").read_text())
    config = tmp_path / "exp.yaml"
    config.write_text("zoo: {file: hyperparams/ppo.yml, env: CartPole-v1}\nname: mine\n"
                      "total_timesteps: 2000\n")
    out = _train("--config", str(config), "--set", "algo.hyperparams.n_epochs=3", "--check")
    assert out.returncode == 0, out.stderr
    assert "config OK (stable_baselines3.PPO on CartPole-v1, 2,000 timesteps)" in out.stdout


def test_cli_zoo_run_writes_the_translated_config(tmp_path: Path) -> None:
    out = _train("--zoo", str(ZOO / "ppo.yml"), "--env", "CartPole-v1", "-q",
                 "--set", "total_timesteps=512", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    run_dir = next((tmp_path / "ppo_CartPole-v1").iterdir())
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["algo"]["hyperparams"]["learning_rate"] == {
        "schedule": "linear", "start": 0.001, "end": 0.0}
    assert saved["env"]["n_envs"] == 8 and saved["total_timesteps"] == 512
    again = _train("--config", str(run_dir / "config.yaml"), "--check")
    assert again.returncode == 0, again.stderr


def test_zoo_wrapper_callback_and_monitor_lists_do_what_they_do(tmp_path: Path) -> None:
    import json

    import numpy as np

    from hlynr.envs.factory import build_vec_env
    from hlynr.training.runner import start_run

    count = tmp_path / "count.json"
    path = _write(tmp_path, f"""
zoo_usercode:LineEnv:
  n_timesteps: 128
  n_envs: 2
  n_steps: 32
  batch_size: 64
  env_wrapper:
    - zoo_usercode.ScaleReward: {{scale: 10.0}}
  vec_env_wrapper: zoo_usercode.OffsetObservation
  callback:
    - zoo_usercode.CountSteps: {{path: {count}}}
  monitor_kwargs: "dict(info_keywords=('distance',))"
""")
    config = load_zoo(path, "zoo_usercode:LineEnv").config
    assert [w.name for w in config.wrappers] == ["zoo_usercode:ScaleReward",
                                                 "zoo_usercode:OffsetObservation"]
    venv = build_vec_env(config)
    assert np.allclose(venv.reset(), 1.0)  # OffsetObservation adds 1 to x = 0
    for _ in range(4):
        _, rewards, _, infos = venv.step(np.ones(2, dtype=int))
    assert np.allclose(rewards, 10.0) and infos[0]["episode"]["distance"] == 0.0
    start_run(config, runs_dir=tmp_path / "runs")
    assert json.loads(count.read_text())["timesteps"] == 128
