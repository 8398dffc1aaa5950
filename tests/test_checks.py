"""The checks across config sections: one probe env per validation at most, a probe cache that
hits, and problems that `--check` must catch because a real start would fail on them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hlynr_testing import REPO, coin_config

from hlynr.cli.common import run_main
from hlynr.cli.train import main as train_main
from hlynr.config import ConfigError, validate_config
from hlynr.config.env import GymEnvConfig, PettingZooEnvConfig
from hlynr.config.probe import clear_probe_cache, probe_key
from hlynr.registries import BATCHED_ENVS
from hlynr.zoo import load_config

ASYMMETRIC = {"name": "p", "total_timesteps": 1000,
              "env": {"id": "hlynr/Intercept-v0", "vectoriser": "batched", "n_envs": 2},
              "algo": {"name": "AsymmetricPPO", "hyperparams": {"n_steps": 64, "batch_size": 64}}}


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The id of every env built from here on: single envs, ParallelEnvs and batched VecEnvs."""
    clear_probe_cache()
    built: list[str] = []
    for cls in (GymEnvConfig, PettingZooEnvConfig):
        def make_single(self: Any, _original: Any = cls.make_single) -> Any:
            built.append(self.id)
            return _original(self)

        monkeypatch.setattr(cls, "make_single", make_single)
    for name in BATCHED_ENVS.names():
        monkeypatch.setitem(BATCHED_ENVS._items, name, _counted(BATCHED_ENVS.get(name), name, built))
    yield built
    clear_probe_cache()


def _counted(factory: Any, name: str, built: list[str]) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(name)
        return factory(*args, **kwargs)

    return counted


def test_a_centralised_critic_config_builds_one_env_per_validation_and_then_none(
        builds: list[str]) -> None:
    validate_config(ASYMMETRIC)
    assert builds == ["hlynr/Intercept-v0"], "action space, rows and critic state from one env"
    validate_config(ASYMMETRIC)
    assert len(builds) == 1, "the same env section is probed from the cache"
    validate_config({**ASYMMETRIC, "env": {**ASYMMETRIC["env"], "n_envs": 4}, "seed": 3})
    assert len(builds) == 1, "the probe does not depend on n_envs or the seed"
    validate_config({**ASYMMETRIC, "env": {**ASYMMETRIC["env"], "kwargs": {"scenario": "easy"}}})
    assert len(builds) == 2, "other env parameters are another probe"


def test_a_centralised_critic_with_a_teacher_builds_one_env(builds: list[str]) -> None:
    config = load_config(REPO / "configs" / "swarm" / "bc_mappo_swarm.yaml").config
    assert config.pretrain is not None and config.algo.entry.centralised_critic
    assert builds == ["hlynr/Swarm-v0"], "the teacher's spaces come from the same probe"


def test_the_search_space_check_reuses_the_probe(builds: list[str]) -> None:
    lr = {"type": "float", "low": 1e-4, "high": 1e-2}
    config = validate_config(coin_config(
        callbacks=[{"evaluation": {"every": 128, "episodes": 2}}],
        tune={"params": {"algo.hyperparams.learning_rate": lr,
                         "algo.hyperparams.n_epochs": {"type": "int", "low": 1, "high": 3}}}))
    assert config.tune is not None
    assert builds == ["HlynrTest/Coin-v0"], "5 validations (the config and 4 candidates), 1 env"


def test_the_probe_key_is_plain_data_and_holds_no_config() -> None:
    config = validate_config(coin_config())
    key = probe_key(config)
    assert isinstance(key, str) and "HlynrTest/Coin-v0" in key
    assert probe_key(validate_config(coin_config(seed=5))) == key


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_main(train_main, ["--quiet", *args, "--check"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_catches_a_mask_index_past_the_observation(capsys: pytest.CaptureFixture[str]) -> None:
    cartpole = str(REPO / "configs" / "classic" / "cartpole_ppo.yaml")
    code, out, err = _check(capsys, "--config", cartpole,
                            "--set", "wrappers=[{mask_observation: {keep: [0, 9]}}]")
    assert code == 2 and "config OK" not in out
    assert err.startswith("error: ") and err.count("error:") == 1 and "Traceback" not in err
    assert "--set: wrappers[0].mask_observation.keep[1]: index 9 is out of range" in err
    assert "the observation has 4 entries, so keep takes 0..3 (or -4..-1 from the end)" in err
    code, out, _ = _check(capsys, "--config", cartpole,
                          "--set", "wrappers=[{mask_observation: {keep: [0, -2]}}]")
    assert code == 0 and "config OK" in out


def test_a_mask_after_a_wrapper_is_checked_against_the_wrapped_env() -> None:
    with pytest.raises(ConfigError, match=r"wrappers\[1\]\.mask_observation\.keep\[0\]: index 1 "
                                          r"is out of range: the observation has 1 entries"):
        validate_config(coin_config(wrappers=[{"time_limit": {"max_episode_steps": 3}},
                                              {"mask_observation": {"keep": [1]}}]))
    validate_config(coin_config(wrappers=[{"time_limit": {"max_episode_steps": 3}},
                                          {"mask_observation": {"keep": [0]}}]))


@pytest.mark.parametrize("env", [
    {"id": "hlynr/Intercept-v0", "vectoriser": "batched"},
    {"type": "pettingzoo", "id": "hlynr/Swarm-v0"},
])
def test_single_env_wrappers_need_single_envs(env: dict[str, Any]) -> None:
    data = {"name": "w", "total_timesteps": 1000, "env": env, "algo": {"name": "PPO"},
            "wrappers": [{"time_limit": {"max_episode_steps": 50}}]}
    with pytest.raises(ConfigError, match=r"wrappers\[0\]: 'time_limit' wraps single Gymnasium "
                                          "envs, and there are none"):
        validate_config(data)
