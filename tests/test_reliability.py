"""Crash safety of run folders: checkpoint fallback, the best model across a resume, bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hlynr_testing import coin_config
from test_runs import cli, only_run, write_config

from hlynr.config import ConfigError, validate_config
from hlynr.runs.progress_log import read_progress

ALGO = {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
        "policy_kwargs": {"net_arch": [8]}}


def _train(tmp_path: Path, **over) -> Path:
    runs = tmp_path / "runs"
    cfg = write_config(tmp_path, algo=ALGO, **over)
    res = cli("train.py", "--config", str(cfg), "--runs-dir", str(runs), "-q")
    assert res.returncode == 0, res.stderr
    return only_run(runs)


def test_resume_passes_over_a_checkpoint_missing_callback_state(tmp_path: Path) -> None:
    run = _train(tmp_path, total_timesteps=256,
                 callbacks=[{"evaluation": {"every": 64, "episodes": 2}},
                            {"checkpoint": {"every": 128, "keep_last": 3}}])
    older, newest = sorted((run / "checkpoints").iterdir())[-2:]
    meta = json.loads((newest / "meta.json").read_text())
    del meta["state"]["evaluation"]
    (newest / "meta.json").write_text(json.dumps(meta))
    res = cli("train.py", "--resume", str(run), "--set", "total_timesteps=384", "-q")
    assert res.returncode == 0, res.stderr
    assert f"{newest.name} is damaged" in res.stdout and "evaluation" in res.stdout
    assert f"resuming from {older.name}" in res.stdout
    resume = [r for r in read_progress(run / "progress.jsonl") if r.get("event") == "resume"]
    assert resume[-1]["checkpoint"] == older.name
    assert json.loads((run / "summary.json").read_text())["timesteps"] >= 384


def test_best_model_on_disk_survives_a_resume_from_an_older_checkpoint(tmp_path: Path) -> None:
    """A kill right after a new best, off the checkpoint grid: best/ is newer than the checkpoint."""
    run = _train(tmp_path, total_timesteps=256,
                 callbacks=[{"evaluation": {"every": 64, "episodes": 2}},
                            {"best_model": {"metric": "mean_reward"}},
                            {"checkpoint": {"every": 128, "keep_last": 3}}])
    checkpoints = sorted((run / "checkpoints").iterdir())
    for later in checkpoints[1:]:  # keep only the oldest checkpoint (step 128)
        for f in later.iterdir():
            f.unlink()
        later.rmdir()
    best_meta = json.loads((run / "best" / "meta.json").read_text())
    best_meta.update(timesteps=192, value=1e9)
    best_meta["metrics"]["mean_reward"] = 1e9  # a best no later evaluation can reach
    (run / "best" / "meta.json").write_text(json.dumps(best_meta))
    model_bytes = (run / "best" / "model.zip").read_bytes()
    res = cli("train.py", "--resume", str(run), "--set", "total_timesteps=512", "-q")
    assert res.returncode == 0, res.stderr
    assert json.loads((run / "best" / "meta.json").read_text())["timesteps"] == 192
    assert (run / "best" / "model.zip").read_bytes() == model_bytes
    kept = [r for r in read_progress(run / "progress.jsonl") if r.get("event") == "best_kept"]
    assert kept and kept[-1]["best_timesteps"] == 192 and kept[-1]["value"] == 1e9
    assert json.loads((run / "summary.json").read_text())["best"]["timesteps"] == 192


BAD_VALUES = [
    ({"algo": {"name": "PPO", "hyperparams": {"learning_rate": -1}}}, "learning_rate", "> 0"),
    ({"algo": {"name": "PPO", "hyperparams": {"learning_rate": float("nan")}}}, "learning_rate",
     "finite"),
    ({"algo": {"name": "PPO", "hyperparams": {"n_steps": 0}}}, "n_steps", ">= 1"),
    ({"algo": {"name": "PPO", "hyperparams": {"batch_size": 0}}}, "batch_size", ">= 1"),
    ({"algo": {"name": "PPO", "hyperparams": {"n_epochs": 0}}}, "n_epochs", ">= 1"),
    ({"algo": {"name": "PPO", "hyperparams": {"gamma": 1.5}}}, "gamma", "<= 1"),
    ({"algo": {"name": "PPO", "hyperparams": {"gamma": -0.5}}}, "gamma", ">= 0"),
    ({"algo": {"name": "PPO", "hyperparams": {"clip_range": -0.2}}}, "clip_range", "> 0"),
    ({"algo": {"name": "PPO", "hyperparams": {"n_steps": True}}}, "n_steps", "boolean"),
    ({"algo": {"name": "PPO", "policy_kwargs": {"net_arch": [-16]}}}, "net_arch", ">= 1"),
    ({"algo": {"name": "PPO", "policy_kwargs": {"net_arch": {"pii": [16], "vf": [16]}}}},
     "net_arch", "did you mean 'pi'"),
    ({"algo": {"name": "PPO", "hyperparams": {"n_steps": 16, "batch_size": 64}}}, "batch_size",
     "larger than the rollout"),
    ({"algo": {"name": "PPO", "hyperparams": {"learning_rate": {"schedule": "linear",
                                                                 "strat": 1e-3, "end": 0}}}},
     "learning_rate.strat", "did you mean 'start'"),
    ({"callbacks": [{"evaluation": {"every": 10, "stage": 5}}]}, "stage", "no curriculum"),
    ({"env": {"id": "CartPole-v1"}, "algo": {"name": "SAC"}}, "algo.name", "cannot act on"),
    ({"env": {"id": "Pendulum-v1", "n_envs": 2},
      "algo": {"name": "SAC", "hyperparams": {"train_freq": [1, "episode"]}}}, "train_freq",
     "single env"),
    ({"env": {"id": "CartPole-v1", "n_envs": True}}, "n_envs", "valid integer"),
    ({"env": {"id": "CartPole-v1"}, "algo": {"name": "PPO", "hyperparams": {"use_sde": True}}},
     "use_sde", "continuous actions"),
]


@pytest.mark.parametrize("patch,key,reason", BAD_VALUES)
def test_bad_values_are_rejected_at_validation(patch: dict, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(coin_config(**patch))
    assert key in str(err.value) and reason in str(err.value), str(err.value)


def test_bad_value_from_the_cli_writes_nothing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, algo={"name": "PPO", "hyperparams": {"gamma": 1.5}})
    res = cli("train.py", "--config", str(cfg), "--runs-dir", str(tmp_path / "runs"))
    assert res.returncode == 2 and res.stderr.startswith("error:") and "Traceback" not in res.stderr
    assert not (tmp_path / "runs").exists()


def test_duplicate_yaml_keys_name_both_lines(tmp_path: Path) -> None:
    cfg = tmp_path / "dup.yaml"
    cfg.write_text("name: a\nseed: 1\ntotal_timesteps: 10\nseed: 2\n")
    res = cli("train.py", "--config", str(cfg), "--check")
    assert res.returncode == 2 and "duplicate key 'seed' (lines 2 and 4)" in res.stderr


def test_markup_in_user_input_is_printed_as_it_is(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    res = cli("train.py", "--config", str(cfg), "--set", "[/x]=1", "--check")
    assert res.returncode == 2 and "[/x]" in res.stderr and "Traceback" not in res.stderr


def test_a_progress_log_that_is_not_utf8_is_read_and_monitored(tmp_path: Path) -> None:
    run = _train(tmp_path, total_timesteps=128, callbacks=[])
    log = run / "progress.jsonl"
    records = read_progress(log)
    log.write_bytes(log.read_bytes() + b'{"type": "rollout", "timesteps": 9\xff\xfe}\n\xc3\x28\n')
    assert read_progress(log) == records  # the damaged lines are skipped, the rest kept
    res = cli("monitor_training.py", str(run), "--json")
    assert res.returncode in (0, 1) and "Traceback" not in res.stderr, res.stderr
    assert json.loads(res.stdout)["timesteps"] == records[-1]["timesteps"]
