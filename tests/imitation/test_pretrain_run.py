"""Pretraining inside a run: cloning quality, artifacts, the teacher's sensor path, resume."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import imitation_testing as it
import numpy as np
import pytest

from hlynr.config import validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.evaluation.scoring import ScoreSettings, score_model
from hlynr.evaluation.targets import resolve_targets
from hlynr.imitation.pretrain import PretrainError
from hlynr.registries import RunStatus
from hlynr.runs.progress_log import read_progress
from hlynr.training.runner import resume_run, start_run


def _records(run: Path, kind: str) -> list[dict]:
    return [r for r in read_progress(run / "progress.jsonl") if r["type"] == kind]


def test_bc_clones_the_teacher_and_saves_a_scorable_model(runs_dir: Path) -> None:
    cfg = validate_config(it.follow_config(
        wrappers=[{"normalize": {}}], callbacks=[{"evaluation": {"every": 128, "episodes": 2}}],
        pretrain={**it.follow_config()["pretrain"], "epochs": 12}))
    run = start_run(cfg, runs_dir=runs_dir).run_dir
    epochs = _records(run, "pretrain")
    assert epochs[-1]["agreement"] > 0.95
    assert epochs[-1]["imitation_loss_validation"] < epochs[0]["imitation_loss_validation"]
    assert epochs[-1]["dataset_size"] == 4000
    folder = run / "pretrain"
    assert (folder / "model.zip").is_file() and (folder / "vecnormalize.pkl").is_file()
    assert (folder / "dataset.npz").is_file()
    (target,) = resolve_targets(str(run), "pretrain")
    summary = score_model(target, ScoreSettings(episodes=16, n_envs=4))
    assert summary.metrics()["success_rate"] > 0.9  # |a - teacher| < 0.1 at the last step


def test_teacher_sees_task_observations_never_stacked_or_normalised(runs_dir: Path) -> None:
    data = it.follow_config(wrappers=[{"frame_stack": {"n_stack": 3}}, {"normalize": {}}])
    data["pretrain"].update(steps=64, epochs=1)
    cfg = validate_config(data)
    it.FollowTeacher.seen = []
    start_run(cfg, runs_dir=runs_dir)
    seen = np.concatenate(it.FollowTeacher.seen)
    assert seen.shape[1] == 4  # not stacked (the student sees 12 numbers)
    # The teacher drove (BC): replaying its own actions on the raw task env gives the same obs.
    raw = build_vec_env(cfg, learner_wrappers=False)
    obs = raw.reset()
    for step in range(len(it.FollowTeacher.seen)):
        np.testing.assert_allclose(it.FollowTeacher.seen[step], obs, atol=1e-6)
        obs, *_ = raw.step(it.teacher_law(obs, 1.0))
    raw.close()


def test_dagger_rounds_grow_the_data_set_with_student_probability(runs_dir: Path) -> None:
    data = it.follow_config()
    data["pretrain"].update(method="dagger", rounds=3, steps=1200, epochs=4,
                            student_prob={"schedule": "linear", "start": 0.0, "end": 1.0})
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    rounds = [r for r in _records(run, "event") if r["event"] == "pretrain_round"]
    assert [r["student_prob"] for r in rounds] == [0.0, 0.5, 1.0]
    assert [r["dataset_size"] for r in rounds] == [400, 800, 1200]


def test_resume_does_not_pretrain_again_and_another_run_can_start_from_it(runs_dir: Path) -> None:
    data = it.follow_config(total_timesteps=512, callbacks=[{"checkpoint": {"every": 256}},
                                                            {"evaluation": {"every": 256}}])
    data["pretrain"].update(steps=400, epochs=2)
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    shutil.rmtree(sorted((run / "checkpoints").iterdir())[-1])
    before = len(_records(run, "pretrain"))
    result = resume_run(run)
    assert result.timesteps == 512 and len(_records(run, "pretrain")) == before

    reuse = copy.deepcopy(data)
    reuse["pretrain"] = {"from_run": str(run)}
    reuse["total_timesteps"] = 128
    cfg = validate_config(reuse)
    other = start_run(cfg, runs_dir=runs_dir).run_dir
    assert not (other / "pretrain").exists()
    assert any(r.get("event") == "pretrained_from" for r in _records(other, "event"))
    reuse["algo"] = {**reuse["algo"], "policy_kwargs": {"net_arch": [8]}}  # another network
    failed = start_run(validate_config(reuse), runs_dir=runs_dir)  # found after its folder exists
    assert failed.status is RunStatus.FAILED and isinstance(failed.error, PretrainError)
    assert re.match(r"pretraining failed: cannot start from .*pretrain", failed.reason)


@pytest.mark.parametrize("algo", ["PPO", "RecurrentPPO"])
def test_critic_warmup_lowers_value_loss_and_leaves_the_actor_alone(tmp_path: Path, algo: str) -> None:
    from hlynr.algos.builder import build_model
    from hlynr.imitation.pretrain import run_pretraining
    from hlynr.runs.progress_log import ProgressLog

    data = it.follow_config(total_timesteps=128)
    data["algo"] = {"name": algo, "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
                    "policy_kwargs": {"net_arch": [16]}}
    if algo == "RecurrentPPO":
        data["algo"]["policy_kwargs"]["lstm_hidden_size"] = 8
    data["pretrain"].update(steps=400, epochs=2, critic_warmup={
        "rollouts": 2, "epochs": 50, "learning_rate": 0.01})
    cfg = validate_config(data)
    venv = build_vec_env(cfg, observation_tap=True)
    model = build_model(cfg, venv)
    from stable_baselines3.common.logger import configure
    model.set_logger(configure(None, []))
    log = ProgressLog(tmp_path / "progress.jsonl")
    run_pretraining(model, venv, cfg, tmp_path, log)
    warm = [r for r in read_progress(tmp_path / "progress.jsonl") if "warmup_rollout" in r]
    assert len(warm) == 2
    for r in warm:
        assert r["value_loss_after"] < 0.5 * r["value_loss_before"]
    cloned = type(model).load(tmp_path / "pretrain" / "model.zip").policy.state_dict()
    now = model.policy.state_dict()
    changed = {k for k in now if not np.array_equal(now[k].numpy(), cloned[k].numpy())}
    assert changed and all("value" in k or "critic" in k for k in changed), changed
    venv.close()


def test_critic_warmup_steps_do_not_count_toward_total_timesteps(runs_dir: Path) -> None:
    data = it.follow_config(total_timesteps=256)
    data["algo"] = {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
                    "policy_kwargs": {"net_arch": [16]}}
    data["pretrain"].update(steps=400, epochs=1, critic_warmup={
        "rollouts": 3, "epochs": 1, "learning_rate": 0.01})
    result = start_run(validate_config(data), runs_dir=runs_dir)
    rollouts = _records(result.run_dir, "rollout")
    n_envs = data["env"]["n_envs"]
    # 3 warm-up rollouts ran before learning; the first learning rollout still counts from 0
    assert rollouts[0]["timesteps"] == 32 * n_envs
    assert result.status.value == "completed" and result.timesteps >= 256


def test_regularizer_weight_follows_its_schedule_across_a_resume(runs_dir: Path) -> None:
    data = it.follow_config(total_timesteps=768, callbacks=[{"checkpoint": {"every": 256}}])
    data["pretrain"].update(steps=400, epochs=2, regularizer={
        "loss": "kl", "weight": {"schedule": "linear", "start": 1.0, "end": 0.0}})
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir

    def weights() -> dict[int, float]:
        return {r["timesteps"]: r["losses"]["regularizer_weight"]
                for r in _records(run, "rollout") if "regularizer_weight" in r["losses"]}

    full = weights()
    # each record holds the weight of the update after the previous rollout: 1 - t / total
    for t, w in full.items():
        assert w == pytest.approx(1.0 - (t - 128) / 768, abs=1e-9)
    for ckpt in sorted((run / "checkpoints").iterdir())[1:]:
        shutil.rmtree(ckpt)
    resume_run(run)
    after = weights()  # the first rollout after a resume has no update of this process yet
    assert len(after) >= len(full) - 1 and max(after) == 768
    assert after == pytest.approx({t: full[t] for t in after})


def test_parameter_shared_swarm_rows_clone_with_inactive_rows_masked(runs_dir: Path) -> None:
    data = {"name": "swarm_bc", "seed": 0, "total_timesteps": 64,
            "env": {"type": "pettingzoo", "id": "hlynr/Swarm-v0",
                    "kwargs": {"stage": "basic", "max_agents": 5, "k_neighbours": 3},
                    "n_envs": 2},
            "wrappers": [{"normalize": {"norm_obs": True, "norm_reward": False}}],
            "algo": {"name": "PPO", "hyperparams": {"n_steps": 8, "batch_size": 80, "n_epochs": 1},
                     "policy_kwargs": {"net_arch": [64, 64]}},
            "pretrain": {"teacher": {"name": "swarm_intercept_point"}, "steps": 3000,
                         "epochs": 8, "batch_size": 256, "learning_rate": 3.0e-3, "loss": "mse"}}
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    from hlynr.imitation.dataset import Dataset

    ds = Dataset.load(run / "pretrain" / "dataset.npz")
    r = ds.rounds[0]
    assert r.shape[1] == 10  # 2 copies x 5 agent rows
    assert 0 < ds.size < r.mask.size  # the basic stage flies fewer than 5 agents: rows masked
    epochs = _records(run, "pretrain")
    assert epochs[-1]["agreement"] > epochs[0]["agreement"]


def test_ctrl_c_during_pretraining_keeps_the_clone_and_a_resumable_run(
        runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGINT in the first DAgger round: the round is cut short and fitted, no other round
    runs, the clone is saved, the run ends interrupted (lock released, checkpoint, summary) and
    ``--resume`` fine-tunes from it without pretraining again."""
    import json
    import os
    import signal

    from hlynr.imitation import pretrain as P
    from hlynr.runs.lock import holder

    real = P.collect_round
    calls = []

    def interrupted_round(*args, **kwargs):
        calls.append(1)
        os.kill(os.getpid(), signal.SIGINT)  # the run's handler only records it
        return real(*args, **kwargs)

    monkeypatch.setattr(P, "collect_round", interrupted_round)
    data = it.follow_config(total_timesteps=256, callbacks=[{"checkpoint": {"every": 128}}])
    data["pretrain"].update(method="dagger", rounds=3, steps=1200, epochs=4,
                            critic_warmup={"rollouts": 1, "epochs": 2})
    result = start_run(validate_config(data), runs_dir=runs_dir)
    run = result.run_dir
    assert result.status is RunStatus.INTERRUPTED and "during pretraining" in result.reason
    assert result.timesteps == 0 and len(calls) == 1
    epochs = [r for r in _records(run, "pretrain") if "agreement" in r]
    assert len(epochs) == 1 and 4 <= epochs[0]["dataset_size"] < 400  # cut short, one epoch
    assert not [r for r in _records(run, "pretrain") if "warmup_rollout" in r]
    meta = json.loads((run / "pretrain" / "meta.json").read_text())
    assert meta["status"] == "interrupted" and (run / "pretrain" / "model.zip").is_file()
    assert holder(run) is None and (run / "summary.json").is_file()
    assert len(list((run / "checkpoints").iterdir())) == 1
    monkeypatch.setattr(P, "collect_round", real)
    resumed = resume_run(run)
    assert resumed.status is RunStatus.COMPLETED and resumed.timesteps == 256
    assert len([r for r in _records(run, "pretrain") if "agreement" in r]) == 1


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_normalization_keeps_the_clones_statistics_through_fine_tuning_and_resume(
        runs_dir: Path, freeze: bool) -> None:
    import pickle

    data = it.follow_config(total_timesteps=512, wrappers=[{"normalize": {}}],
                            callbacks=[{"checkpoint": {"every": 256}}])
    data["pretrain"].update(steps=400, epochs=2, freeze_normalization=freeze)
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir

    def stats(folder: Path) -> tuple[float, np.ndarray]:
        norm = pickle.loads((folder / "vecnormalize.pkl").read_bytes())
        return norm.obs_rms.count, norm.obs_rms.mean

    count0, mean0 = stats(run / "pretrain")
    first, last = sorted((run / "checkpoints").iterdir())
    shutil.rmtree(last)
    resume_run(run)
    for folder in (first, run / "final"):
        count, mean = stats(folder)
        if freeze:
            assert count == count0 and np.array_equal(mean, mean0)
        else:
            assert count > count0
