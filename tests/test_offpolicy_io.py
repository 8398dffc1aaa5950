"""hlynr's SAC, TD3 and TQC: saved files both ways with SB3 / sb3-contrib, resume, configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sb3_contrib
import stable_baselines3
import torch as th
import yaml
from hlynr_testing import REPO
from stable_baselines3.common.env_util import make_vec_env

from hlynr.algos.offpolicy import SAC, TD3, TQC
from hlynr.algos.offpolicy.base import FAST_STATE, fast_nets
from hlynr.runs.artifacts import MODEL_FILE, REPLAY_FILE
from hlynr.runs.checkpoints import checkpoint_dir

th.set_num_threads(1)


@pytest.fixture(autouse=True)
def _eager_tqc(monkeypatch: pytest.MonkeyPatch) -> None:
    """TQC's quantile loss runs eagerly here (compiling it takes a while; tested on its own)."""
    monkeypatch.setattr(TQC, "compile_critic_loss", False)

ORIGINALS = {"SAC": stable_baselines3.SAC, "TD3": stable_baselines3.TD3, "TQC": sb3_contrib.TQC}
OURS = {"SAC": SAC, "TD3": TD3, "TQC": TQC}


def kwargs() -> dict[str, Any]:
    """Small models (a fresh dict: SB3 adds keys to ``policy_kwargs``)."""
    return dict(learning_starts=40, batch_size=16, buffer_size=500, policy_kwargs={"net_arch": [16]}, device="cpu")

OBS = np.random.default_rng(0).uniform(-1, 1, (5, 3)).astype(np.float32)
ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}


def env(seed: int = 0) -> Any:
    return make_vec_env("Pendulum-v1", n_envs=1, seed=seed, env_kwargs={"max_episode_steps": 50})


def in_fresh_process(script: str, *args: str) -> Any:
    """Run ``script`` in a new interpreter (nothing of this process loaded); its stdout as JSON."""
    res = subprocess.run([sys.executable, "-c", script, *args], env=ENV, cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


LOAD_AND_PREDICT = """
import json, sys, numpy as np, importlib
module, name, path = sys.argv[1:4]
cls = getattr(importlib.import_module(module), name)
model = cls.load(path, device="cpu")
obs = np.array(json.loads(sys.argv[4]), dtype=np.float32)
actions, _ = model.predict(obs, deterministic=True)
print(json.dumps({"policy": type(model.policy).__module__ + "." + type(model.policy).__name__,
                  "actions": actions.tolist(), "timesteps": int(model.num_timesteps)}))
"""


@pytest.mark.parametrize("name", list(OURS))
def test_hlynr_files_load_and_predict_in_the_original_in_a_fresh_process(name: str, tmp_path: Path) -> None:
    model = OURS[name]("MlpPolicy", env(), seed=0, **kwargs()).learn(80)
    assert fast_nets(model) is not None
    path = tmp_path / "model.zip"
    model.save(path)
    original = ORIGINALS[name]
    out = in_fresh_process(LOAD_AND_PREDICT, original.__module__.split(".")[0], name, str(path),
                           json.dumps(OBS.tolist()))
    assert out["policy"].startswith(original.__module__.split(".")[0])  # SB3's own policy class
    assert out["timesteps"] == 80
    expected, _ = model.predict(OBS, deterministic=True)
    np.testing.assert_allclose(np.array(out["actions"]), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(OURS))
def test_original_files_load_here_and_train_on_like_the_original(name: str, tmp_path: Path) -> None:
    path = tmp_path / "original.zip"
    ORIGINALS[name]("MlpPolicy", env(), seed=0, **kwargs()).learn(60).save(path)
    out = in_fresh_process(LOAD_AND_PREDICT, "hlynr.algos.offpolicy", name, str(path), json.dumps(OBS.tolist()))
    ref = ORIGINALS[name].load(path, env=env(1), device="cpu")
    ours = OURS[name].load(path, env=env(1), device="cpu")
    expected, _ = ref.predict(OBS, deterministic=True)
    np.testing.assert_allclose(np.array(out["actions"]), expected, rtol=1e-6, atol=1e-7)
    for model in (ref, ours):  # the loaded optimizer states and entropy coefficient carry on
        model.set_random_seed(3)
        model.learn(40, reset_num_timesteps=False)
    assert fast_nets(ours) is not None
    for p, q in zip(ref.policy.parameters(), ours.policy.parameters(), strict=True):
        th.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    for opt_ref, opt_ours in zip((ref.actor.optimizer, ref.critic.optimizer),
                                 (ours.actor.optimizer, ours.critic.optimizer)):
        steps = [float(s["step"]) for s in opt_ref.state_dict()["state"].values()]
        assert steps == [float(s["step"]) for s in opt_ours.state_dict()["state"].values()]
    if name != "TD3":
        th.testing.assert_close(ours.log_ent_coef, ref.log_ent_coef, rtol=1e-4, atol=1e-6)


def test_saved_files_hold_no_runtime_state_and_load_back_here(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", env(), seed=0, **kwargs()).learn(60)
    model.save(tmp_path / "m.zip")
    loaded = SAC.load(tmp_path / "m.zip", env=env(), device="cpu")
    assert FAST_STATE not in loaded.__dict__
    for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert th.equal(p, q)
    loaded.learn(20, reset_num_timesteps=False)
    assert fast_nets(loaded) is not None


SAC_CONFIG = {
    "name": "offpolicy_resume", "seed": 0, "total_timesteps": 120, "torch_threads": 1,
    "env": {"id": "Pendulum-v1", "n_envs": 1},
    "algo": {"name": "SAC", "hyperparams": {"learning_starts": 40, "batch_size": 16, "buffer_size": 1000},
             "policy_kwargs": {"net_arch": [16]}},
    "callbacks": [{"checkpoint": {"every": 60, "keep_last": 5}}],
}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)


def train_then_resume(tmp_path: Path, config: dict[str, Any], total: int) -> Path:
    """Train ``config`` through ``train.py``, then resume it to ``total`` timesteps; the run folder."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    res = cli("train.py", "--config", str(cfg), "--runs-dir", str(runs), "--quiet")
    assert res.returncode == 0, res.stderr
    (run,) = runs.glob("*/*/")
    res = cli("train.py", "--resume", str(run), "--set", f"total_timesteps={total}", "--quiet")
    assert res.returncode == 0, res.stderr
    return run


def test_resume_through_train_py_keeps_replay_buffer_optimizers_and_entropy_coefficient(tmp_path: Path) -> None:
    run = train_then_resume(tmp_path, SAC_CONFIG, 180)
    stopped = SAC.load(checkpoint_dir(run, 120) / MODEL_FILE, device="cpu")
    stopped.load_replay_buffer(checkpoint_dir(run, 120) / REPLAY_FILE)
    resumed = SAC.load(checkpoint_dir(run, 180) / MODEL_FILE, device="cpu")
    resumed.load_replay_buffer(checkpoint_dir(run, 180) / REPLAY_FILE)
    # the buffer continued (120 old transitions kept, 60 new ones after them)...
    assert stopped.replay_buffer.pos == 120 and resumed.replay_buffer.pos == 180
    np.testing.assert_array_equal(resumed.replay_buffer.observations[:120], stopped.replay_buffer.observations[:120])
    # ...and so did every optimizer: 80 + 60 gradient steps, not 60 from scratch
    for model, updates in ((stopped, 80), (resumed, 140)):
        for optimizer in (model.actor.optimizer, model.critic.optimizer, model.ent_coef_optimizer):
            assert {float(s["step"]) for s in optimizer.state_dict()["state"].values()} == {float(updates)}
    # the entropy coefficient moved on from where it stopped (it only falls at this stage)
    assert resumed.log_ent_coef.item() < stopped.log_ent_coef.item() < 0.0


@pytest.mark.parametrize("algo,patch,key,reason", [
    ("SAC", {"policy": "MlpLstmPolicy"}, "algo.policy", "unknown policy for SAC"),
    ("TQC", {"hyperparams": {"top_quantiles_to_drop_per_net": 5}, "policy_kwargs": {"n_quantiles": 5}},
     "algo.hyperparams.top_quantiles_to_drop_per_net", "no target quantile would remain"),
    ("sb3_contrib.TQC", {"hyperparams": {"top_quantiles_to_drop_per_net": 30}},
     "algo.hyperparams.top_quantiles_to_drop_per_net", "smaller than n_quantiles (25)"),
])
def test_unsupported_combinations_fail_before_anything_runs(tmp_path: Path, algo: str, patch: dict,
                                                             key: str, reason: str) -> None:
    data = {**SAC_CONFIG, "algo": {"name": algo, **patch}}
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(data))
    res = cli("train.py", "--config", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--check")
    assert res.returncode == 2
    first, *problems = res.stderr.strip().splitlines()
    assert first.startswith("error:") and "(1 error)" in first and "Traceback" not in res.stderr, res.stderr
    assert len(problems) == 1 and f": {key}: " in problems[0] and reason in problems[0], res.stderr
    assert not (tmp_path / "runs").exists()


def test_names_select_hlynr_or_the_original_and_the_zoo_keeps_the_original() -> None:
    from hlynr.registries import ALGORITHMS
    from hlynr.zoo import ZOO_ALGOS

    for name, cls in OURS.items():
        assert ALGORITHMS.get(name).load() is cls
        original = ORIGINALS[name]
        assert ALGORITHMS.get(f"{original.__module__.split('.')[0]}.{name}").load() is original
        assert issubclass(cls, original)
    assert ZOO_ALGOS["sac"] == "stable_baselines3.SAC" and ZOO_ALGOS["tqc"] == "sb3_contrib.TQC"
