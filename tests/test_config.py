"""Config loading and validation: every bad key fails early with file, path and suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hlynr_testing import coin_config

from hlynr.config import ConfigError, dump_config, validate_config
from hlynr.config.schedules import LinearSchedule
from hlynr.zoo import load_config


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_valid_config_round_trips_through_its_dump(tmp_path: Path) -> None:
    cfg = coin_config(callbacks=[{"evaluation": {"every": 64}}, "best_model",
                                 {"checkpoint": {"every": 128, "keep_last": 2}}],
                      wrappers=[{"frame_stack": {"n_stack": 2}}, "normalize"])
    cfg["algo"]["hyperparams"]["learning_rate"] = {"schedule": "linear", "start": 1e-3, "end": 0.0}
    config = validate_config(cfg)
    dumped = dump_config(config)
    again = validate_config(yaml.safe_load(yaml.safe_dump(dumped)))
    assert dump_config(again) == dumped
    assert config.callback("checkpoint").keep_last == 2
    assert dumped["wrappers"][0] == {"frame_stack": {"n_stack": 2}}


def test_unknown_key_names_file_line_path_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", """\
name: t
total_timesteps: 100
env: {id: HlynrTest/Coin-v0}
algo:
  name: PPO
  hyperparams:
    learnig_rate: 0.001
""")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert f"{path}:7" in msg
    assert "algo.hyperparams.learnig_rate" in msg
    assert "did you mean 'learning_rate'?" in msg


def test_a_key_missing_its_last_word_suggests_the_full_key(tmp_path: Path) -> None:
    """``features_extractor`` is closer in spelling to ``share_features_extractor``, but the
    user meant SB3's ``features_extractor_class``."""
    path = write(tmp_path / "c.yaml", """\
name: t
total_timesteps: 100
env: {id: HlynrTest/Coin-v0}
algo: {name: PPO, policy_kwargs: {features_extractor: attention}}
""")
    with pytest.raises(ConfigError, match="did you mean 'features_extractor_class'"):
        load_config(path)


@pytest.mark.parametrize("patch, path_text, fragment", [
    ({"total_timesteps": "lots"}, "total_timesteps", "valid integer"),
    ({"total_timesteps": -5}, "total_timesteps", "greater than 0"),
    ({"seed": 1.5}, "seed", "integer"),
    ({"torch_threads": 0}, "torch_threads", "greater than or equal to 1"),
    ({"device": "tpu"}, "device", "'auto', 'cpu' or 'cuda'"),
    ({"algo": {"name": "PPOO"}}, "algo.name", "did you mean 'PPO'?"),
    ({"algo": {"name": "PPO", "policy": "MlpPolcy"}}, "algo.policy", "did you mean 'MlpPolicy'?"),
    ({"algo": {"name": "PPO", "hyperparams": {"n_steps": "many"}}}, "algo.hyperparams.n_steps",
     "valid integer"),
    ({"algo": {"name": "PPO", "policy_kwargs": {"activation_fn": "relux"}}},
     "algo.policy_kwargs.activation_fn", "'relu'"),
    ({"algo": {"name": "PPO", "policy_kwargs": {"net_arch": "big"}}},
     "algo.policy_kwargs.net_arch", "list"),
    ({"env": {"id": "CartPole-v9"}}, "env.id", "did you mean 'CartPole-v1'?"),
    ({"env": {"id": "Pendulum-v1", "kwargs": {"gravity": 3}}}, "env.kwargs.gravity", "accepted: g"),
    ({"env": {"id": "HlynrTest/Coin-v0", "n_env": 2}}, "env.n_env", "did you mean 'n_envs'?"),
    ({"env": {"id": "HlynrTest/Coin-v0", "vectoriser": "batched"}}, "env.vectoriser",
     "no batched implementation"),
    ({"wrappers": [{"frame_stak": {}}]}, "wrappers[0]", "did you mean 'frame_stack'?"),
    ({"wrappers": [{"frame_stack": {"n_stack": 0}}]}, "wrappers[0].frame_stack.n_stack",
     "greater than or equal to 1"),
    ({"wrappers": ["normalize", {"time_limit": {"max_episode_steps": 5}}]}, "wrappers[1]",
     "must come before"),
    ({"callbacks": [{"evaluation": {"every": 0}}]}, "callbacks[0].evaluation.every",
     "greater than or equal to 1"),
    ({"callbacks": ["best_model"]}, "callbacks[0]", "add an 'evaluation' callback"),
    ({"callbacks": [{"curriculum": {"mode": "schedule", "stages": [{"p": 1}, {"p": 0}]}}]},
     "callbacks[0].curriculum", "needs 'at'"),
    ({"learning_rate": 0.1}, "learning_rate", "unknown key"),
])
def test_bad_values_fail_before_anything_runs(patch: dict, path_text: str, fragment: str) -> None:
    cfg = coin_config()
    for key, value in patch.items():
        cfg[key] = value
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, "cfg.yaml")
    msg = str(info.value)
    assert path_text in msg, msg
    assert fragment in msg, msg


def test_sac_entropy_schedule_is_rejected() -> None:
    cfg = coin_config(algo={"name": "SAC"},
                      callbacks=[{"entropy_schedule": {"start": 0.1, "end": 0.0}}])
    cfg["env"] = {"id": "Pendulum-v1"}
    with pytest.raises(ConfigError, match="cannot be used with SAC"):
        validate_config(cfg)


def test_extends_merges_relative_base_and_reports_origin(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    write(tmp_path / "base" / "common.yaml", coin_config())
    child = write(tmp_path / "child.yaml", {
        "extends": "base/common.yaml", "total_timesteps": 1024,
        "algo": {"hyperparams": {"n_steps": 64}},
    })
    config = load_config(child).config
    assert config.total_timesteps == 1024
    assert config.algo.hyperparams["n_steps"] == 64
    assert config.algo.hyperparams["batch_size"] == 32  # deep-merged from the base
    bad = write(tmp_path / "bad.yaml", {"extends": "base/common.yaml",
                                        "env": {"n_envz": 3}})
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: env\.n_envz"):
        load_config(bad)


def test_missing_extends_and_cycles_are_clear(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", {"extends": "nope.yaml"})
    with pytest.raises(ConfigError, match="does not exist.*nope.yaml"):
        load_config(a)
    write(tmp_path / "x.yaml", {"extends": "y.yaml"})
    write(tmp_path / "y.yaml", {"extends": "x.yaml"})
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "x.yaml")


def test_missing_file_and_malformed_yaml_with_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    bad = write(tmp_path / "bad.yaml", "name: x\nenv: {id: [unclosed\nalgo: PPO\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+:\d+: malformed YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(write(tmp_path / "list.yaml", "- 1\n- 2\n"))


def test_set_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", coin_config(wrappers=[{"frame_stack": {"n_stack": 2}}]))
    config = load_config(path, ["algo.hyperparams.learning_rate=3e-4", "env.n_envs=4",
                                "wrappers.0.frame_stack.n_stack=3"]).config
    assert config.algo.hyperparams["learning_rate"] == pytest.approx(3e-4)
    assert config.env.n_envs == 4
    assert config.wrappers[0].params.n_stack == 3
    with pytest.raises(ConfigError, match=r"--set: algo\.hyperparams\.n_epoch.*n_epochs"):
        load_config(path, ["algo.hyperparams.n_epoch=3"])
    with pytest.raises(ConfigError, match="KEY.PATH=VALUE"):
        load_config(path, ["novalue"])
    # a --set that replaces a list is where its items come from now, not the file's old lines
    with pytest.raises(ConfigError, match=r"  --set: wrappers\[0\]\.frame_stack\.n_stak: unknown"):
        load_config(path, ["wrappers=[{frame_stack: {n_stak: 2}}]"])


def test_yaml_exponent_floats_are_numbers(tmp_path: Path) -> None:
    cfg = coin_config()
    text = yaml.safe_dump(cfg).replace("n_epochs: 1", "n_epochs: 1\n    learning_rate: 3e-4")
    config = load_config(write(tmp_path / "c.yaml", text)).config
    assert config.algo.hyperparams["learning_rate"] == pytest.approx(3e-4)


def test_schedule_specs_are_plain_data() -> None:
    cfg = coin_config()
    cfg["algo"]["hyperparams"]["clip_range"] = {"schedule": "linear", "start": 0.3, "end": 0.1}
    config = validate_config(cfg)
    import gymnasium as gym

    from hlynr.algos.builder import algorithm_kwargs

    kwargs = algorithm_kwargs(config, gym.spaces.Discrete(2))
    assert isinstance(kwargs["clip_range"], LinearSchedule)
    assert kwargs["clip_range"](1.0) == pytest.approx(0.3)  # SB3: progress_remaining 1 -> 0
    assert kwargs["clip_range"](0.0) == pytest.approx(0.1)
    cfg["algo"]["hyperparams"]["clip_range"] = {"schedule": "cosine", "start": 1, "end": 0}
    with pytest.raises(ConfigError, match="clip_range"):
        validate_config(cfg)


def test_curriculum_stage_keys_are_checked_against_env_params() -> None:
    cfg = coin_config(env={"id": "hlynr/Intercept-v0"},
                      callbacks=[{"curriculum": {"mode": "frozen", "stages": [{"kill_radiu": 5}]}}])
    cfg["algo"] = {"name": "PPO"}
    with pytest.raises(ConfigError, match=r"callbacks\[0\]\.curriculum\.stages\[0\]"):
        validate_config(cfg)
