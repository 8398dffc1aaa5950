"""The pretrain: section is validated before anything runs, with one clear message."""

from __future__ import annotations

from pathlib import Path

import imitation_testing as it
import pytest
import yaml
from hlynr_testing import REPO

from hlynr.config import ConfigError, dump_config, validate_config


def _error(**pretrain) -> str:
    data = it.follow_config()
    data["pretrain"] = {**data["pretrain"], **pretrain}
    with pytest.raises(ConfigError) as exc:
        validate_config(data)
    return str(exc.value)


def test_a_valid_section_round_trips() -> None:
    data = it.follow_config()
    data["pretrain"].update(method="dagger", rounds=3,
                            regularizer={"loss": "kl", "weight": {"schedule": "linear",
                                                                  "start": 1.0, "end": 0.0}})
    cfg = validate_config(data)
    assert [cfg.pretrain.student_prob_at(k) for k in range(3)] == [0.0, 0.5, 1.0]
    again = validate_config(dump_config(cfg))
    assert again.pretrain == cfg.pretrain
    assert "pretrain" not in dump_config(validate_config(it.follow_config(pretrain=None)))


def test_misspelt_teacher_parameter() -> None:
    msg = _error(teacher={"name": "follow_teacher", "params": {"gian": 2}})
    assert "pretrain.teacher.params" in msg and "gian" in msg and "gain" in msg


def test_unknown_teacher_and_unknown_key() -> None:
    assert "follow_teachr" in _error(teacher={"name": "follow_teachr"})
    msg = _error(epoch=3)
    assert "epoch" in msg and "epochs" in msg


def test_teacher_that_cannot_drive_the_env() -> None:
    msg = _error(teacher={"name": "pn"})
    assert "cannot drive HlynrTest/Follow-v0" in msg
    data = it.follow_config(wrappers=[{"mask_observation": {"keep": [0, 1]}}])
    with pytest.raises(ConfigError, match="cannot drive this env: needs the raw"):
        validate_config(data)


@pytest.mark.parametrize("change,words", [
    ({"method": "bc", "rounds": 3}, "needs method: dagger"),
    ({"method": "dagger", "rounds": 1}, "rounds >= 2"),
    ({"student_prob": 1.5}, "within [0, 1]"),
    ({"validation_fraction": 1.0}, "less than 1"),
    ({"regularizer": {"loss": "kl", "weight": -1.0}}, ">= 0"),
    ({"teacher": None}, "needs a teacher"),
])
def test_range_and_consistency(change: dict, words: str) -> None:
    assert words in _error(**change)


def test_algorithm_limits() -> None:
    data = it.follow_config()
    data["algo"] = {"name": "TD3"}
    with pytest.raises(ConfigError, match="deterministic: use loss: mse"):
        validate_config({**data, "pretrain": {**data["pretrain"], "loss": "nll"}})
    with pytest.raises(ConfigError, match="on-policy"):
        validate_config({**data, "pretrain": {**data["pretrain"], "critic_warmup": {}}})
    with pytest.raises(ConfigError, match="no pretrained model"):
        validate_config({**data, "pretrain": {"from_run": "/nonexistent"}})


def test_cli_check_gives_one_error_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    data = it.follow_config()
    data["pretrain"]["teacher"] = {"name": "follow_teacher", "params": {"gian": 2}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}"}
    code = ("import imitation_testing, runpy, sys; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code, "train.py", "--config", str(path), "--check"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and "Traceback" not in out.stderr
    assert "gian" in out.stderr


def test_regularizer_losses_per_family() -> None:
    data = it.follow_config()
    reg = {"loss": "kl", "weight": {"schedule": "linear", "start": 1.0, "end": 0.0}}
    families = [{"name": "RecurrentPPO", "hyperparams": {"n_steps": 32, "batch_size": 64}},
                {"name": "SAC"}, {"name": "PPO"}]
    for algo in families:
        cfg = validate_config({**data, "algo": algo, "pretrain": {**data["pretrain"], "regularizer": reg}})
        assert cfg.pretrain.regularizer.loss == "kl"
    rows = it.rows_config("MAPPO")
    assert validate_config({**rows, "pretrain": {**rows["pretrain"], "regularizer": reg}}).pretrain
    td3 = {**data, "algo": {"name": "TD3"}}
    with pytest.raises(ConfigError, match="deterministic and has no KL: use loss: mse"):
        validate_config({**td3, "pretrain": {**data["pretrain"], "regularizer": reg}})
    mse = {**reg, "loss": "mse"}
    assert validate_config({**td3, "pretrain": {**data["pretrain"], "regularizer": mse}}).pretrain
    with pytest.raises(ConfigError, match="loss: mse is for deterministic actors .*PPO uses loss: kl"):
        validate_config({**data, "pretrain": {**data["pretrain"], "regularizer": mse}})
    with pytest.raises(ConfigError, match="pretrain.regularizer.loss"):
        validate_config({**data, "pretrain": {**data["pretrain"], "regularizer": {"loss": "l2"}}})


def test_centralised_critics_pretrain_and_other_algorithms_do_not() -> None:
    for algo in ("MAPPO", "AsymmetricPPO"):
        data = it.rows_config(algo)
        data["pretrain"].update(method="dagger", rounds=2, critic_warmup={})
        assert validate_config(data).pretrain.critic_warmup is not None
    data = it.follow_config()
    data["algo"] = {"name": "DDPG"}
    with pytest.raises(ConfigError, match="pretraining supports .*MAPPO, AsymmetricPPO.*not DDPG"):
        validate_config(data)
