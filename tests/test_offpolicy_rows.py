"""hlynr's SAC, TD3 and TQC over multi-agent rows: the row replay buffer and ``updates_per_row``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
import yaml
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecEnvWrapper, VecNormalize
from test_offpolicy_io import cli, train_then_resume

import hlynr  # noqa: F401  (registers the built-in envs)
from hlynr.algos.offpolicy import SAC, TD3, TQC
from hlynr.algos.offpolicy.agent_rows import MAX_UPDATES_PER_ROW
from hlynr.algos.offpolicy.replay import sample_minibatches
from hlynr.algos.offpolicy.row_buffer import RowReplayBuffer
from hlynr.config import ConfigError, validate_config
from hlynr.config.signatures import BOUNDS
from hlynr.envs.atc import layout as atc_layout
from hlynr.envs.atc.rows import make_batched_atc
from hlynr.envs.swarm import layout as swarm_layout
from hlynr.envs.swarm.vec_env import make_batched_swarm
from hlynr.runs.artifacts import MODEL_FILE, REPLAY_FILE
from hlynr.runs.checkpoints import checkpoint_dir

# Dense random traffic, 3 aircraft in 4 slots, short episodes: every step has an empty slot,
# aircraft reach their exits while their copy flies on, copies end on all exits and on the limit.
ATC = {"scenario": "random", "max_aircraft": 4, "n_aircraft": 3, "k_intruders": 3, "density": 50.0,
       "max_steps": 12, "exit_radius_nm": 4.0}
ATC_ACTIVE = atc_layout.OWN["active"].start


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    th.set_num_threads(1)


class Recorder(VecEnvWrapper):
    """Every step's rows as the env gives them: observations before the step, actions, rewards,
    dones, the next observations (terminal ones for finished rows) and timeouts."""

    def __init__(self, venv: Any) -> None:
        super().__init__(venv)
        self.steps: list[dict[str, np.ndarray]] = []
        self._obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self._obs = self.venv.reset()
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.array(actions)
        self.venv.step_async(actions)

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        after = obs.copy()
        for i in np.flatnonzero(dones):
            after[i] = infos[i]["terminal_observation"]
        timeouts = np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos])
        self.steps.append({"obs": self._obs, "next": after, "actions": self._actions, "rewards": rewards,
                           "dones": dones, "timeouts": timeouts})
        self._obs = obs
        return obs, rewards, dones, infos


def expected_transitions(steps: list[dict[str, np.ndarray]], flag: int) -> dict[str, np.ndarray]:
    """The transitions of rows whose observation shows a live agent (its own active flag),
    terminal where the agent is gone from the next observation, from the recorded steps."""
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "next", "actions", "rewards", "dones", "timeouts")}
    for s in steps:
        live = s["obs"][:, flag] == 1.0
        gone = s["next"][:, flag] != 1.0
        for key in ("obs", "next", "actions", "rewards"):
            out[key].append(s[key][live])
        out["dones"].append((s["dones"] | gone)[live])
        out["timeouts"].append((s["timeouts"] & ~gone)[live])
    return {k: np.concatenate(v) for k, v in out.items()}


def test_only_rows_with_a_live_agent_enter_the_buffer_and_ended_agents_are_terminal() -> None:
    venv = Recorder(make_batched_atc(4, seed=0, **ATC))
    model = SAC("MlpPolicy", venv, learning_starts=10_000, buffer_size=10_000, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})
    model.learn(300 * 16)  # 300 steps of 16 rows, random actions
    buffer = model.replay_buffer
    assert isinstance(buffer, RowReplayBuffer) and not buffer.full
    want = expected_transitions(venv.steps, ATC_ACTIVE)
    n = buffer.pos
    assert n == buffer.stored == len(want["obs"])
    assert 0.5 * 300 * 16 < n < 300 * 12, "every slot without an aircraft is left out"
    got = {"obs": buffer.observations[:n, 0], "next": buffer.next_observations[:n, 0],
           "actions": buffer.actions[:n, 0], "rewards": buffer.rewards[:n, 0],
           "dones": buffer.dones[:n, 0].astype(bool), "timeouts": buffer.timeouts[:n, 0].astype(bool)}
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], value.astype(got[key].dtype), err_msg=key)
    assert np.all(got["obs"][:, ATC_ACTIVE] == 1.0), "every stored transition starts at a live aircraft"
    # the aircraft that reached an exit while its copy flew on: terminal, never a timeout
    exits = ~np.concatenate([s["dones"][s["obs"][:, ATC_ACTIVE] == 1.0] for s in venv.steps]) & got["dones"]
    assert exits.sum() >= 50 and not got["timeouts"][exits].any()
    assert np.all(got["next"][exits] == 0.0), "their next observation is the empty slot"
    # copies that ended on the time limit: the aircraft still flying bootstrap (timeouts)
    assert got["timeouts"].sum() >= 50 and got["dones"][got["timeouts"]].all()


@pytest.mark.parametrize("make,flag,kwargs", [
    (make_batched_atc, ATC_ACTIVE, ATC),
    (make_batched_swarm, swarm_layout.SL["active"].start,
     {"max_agents": 4, "n_agents": 2, "max_steps": 60, "endurance_s": 1.0}),
])
def test_live_flags_follow_the_engines_agents(make: Any, flag: int, kwargs: dict[str, Any]) -> None:
    venv = make(3, seed=1, **kwargs)
    obs = venv.reset()
    rng = np.random.default_rng(0)
    lost = 0
    for _ in range(120):
        before = venv.live.copy()
        np.testing.assert_array_equal(before, obs[:, flag] == 1.0)
        assert not before.all(), "every copy has empty slots"
        obs, _, dones, infos = venv.step(rng.uniform(-1, 1, (venv.num_envs, 2)))
        np.testing.assert_array_equal(venv.live_before, before)
        active = np.array([info["active"] for info in infos])
        np.testing.assert_array_equal(venv.live_after[~dones], active[~dones])
        np.testing.assert_array_equal(venv.live[~dones], active[~dones])
        lost += int((before & ~venv.live_after & ~dones).sum())
        assert not (venv.live_after & ~before).any(), "no agent appears inside a step"
    assert lost > 0, "agents ended while their copies went on"


def filled_buffer(steps: int = 40) -> tuple[SAC, Any]:
    venv = VecNormalize(make_batched_atc(4, seed=0, **ATC), norm_reward=True, gamma=0.9)
    model = SAC("MlpPolicy", venv, learning_starts=10_000, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})
    model.learn(steps * 16)
    return model, venv


def test_minibatches_are_uniform_over_stored_transitions_and_normalised_like_sb3() -> None:
    model, venv = filled_buffer()
    buffer = model.replay_buffer
    assert isinstance(buffer, RowReplayBuffer)
    np.random.seed(3)
    whole, batches = sample_minibatches(buffer, 32, 4, venv)
    np.random.seed(3)
    singles = [buffer.sample(32, venv) for _ in range(4)]
    for one, fast in zip(singles, batches, strict=True):
        for a, b in zip(one, fast, strict=True):
            assert (a is None and b is None) or th.equal(a, b)
    np.random.seed(3)
    index, envs = buffer.draw(32, 4)
    assert index.max() < buffer.size() and not envs.any()
    raw = buffer.observations[index, 0]
    np.testing.assert_array_equal(whole.observations.numpy(), venv.normalize_obs(raw))
    np.testing.assert_array_equal(whole.rewards.numpy()[:, 0], venv.normalize_reward(buffer.rewards[index, 0]))
    # uniform: every stored transition is equally likely (a chi-square bound on many draws)
    np.random.seed(0)
    counts = np.bincount(buffer.draw(buffer.size(), 200)[0], minlength=buffer.size())
    chi2 = ((counts - 200) ** 2 / 200).sum()
    assert chi2 < buffer.size() + 6 * math.sqrt(2 * buffer.size())


def test_a_full_buffer_overwrites_its_oldest_transitions() -> None:
    venv = make_batched_atc(4, seed=0, **ATC)
    model = SAC("MlpPolicy", venv, learning_starts=10_000, buffer_size=100, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})
    model.learn(30 * 16)
    buffer = model.replay_buffer
    assert isinstance(buffer, RowReplayBuffer)
    assert buffer.full and buffer.stored > 100 and buffer.pos == buffer.stored % 100
    assert np.all(buffer.observations[:, 0, ATC_ACTIVE] == 1.0)


@pytest.mark.parametrize("cls", [SAC, TD3, TQC])
def test_updates_per_row_gives_gradient_steps_per_stored_transition(cls: type) -> None:
    venv = make_batched_atc(4, seed=0, **ATC)
    model = cls("MlpPolicy", venv, learning_starts=80, batch_size=16, updates_per_row=0.3, seed=0,
                device="cpu", policy_kwargs={"net_arch": [8]})
    if cls is TQC:
        model.compile_critic_loss = False
    model.learn(80)  # up to learning_starts: no update, the rows stored then earn none
    buffer = model.replay_buffer
    assert isinstance(buffer, RowReplayBuffer) and model._n_updates == 0
    warm = buffer.stored
    model.learn(30 * 16, reset_num_timesteps=False)
    rows = buffer.stored - warm
    assert rows < 25 * 16, "empty slots earn no update"
    assert model._n_updates == math.floor(0.3 * rows + 1e-9)
    assert model._update_credit == pytest.approx(0.3 * rows - model._n_updates)


def test_updates_per_row_excludes_gradient_steps_and_needs_rows() -> None:
    venv = make_batched_atc(2, seed=0, **ATC)
    with pytest.raises(ValueError, match="not both"):
        SAC("MlpPolicy", venv, updates_per_row=0.5, gradient_steps=4, device="cpu")
    with pytest.raises(ValueError, match="must be > 0"):
        SAC("MlpPolicy", venv, updates_per_row=0.0, device="cpu")
    with pytest.raises(ValueError, match="replay_buffer_class is ReplayBuffer"):
        SAC("MlpPolicy", venv, updates_per_row=0.5, replay_buffer_class=ReplayBuffer, device="cpu")
    with pytest.raises(ValueError, match="not a VecEnv of multi-agent rows"):
        SAC("MlpPolicy", "Pendulum-v1", updates_per_row=0.5, device="cpu")
    assert type(SAC("MlpPolicy", "Pendulum-v1", device="cpu").replay_buffer) is ReplayBuffer
    kept = SAC("MlpPolicy", venv, replay_buffer_class=ReplayBuffer, device="cpu")
    assert type(kept.replay_buffer) is ReplayBuffer, "an explicit buffer class is kept"
    assert BOUNDS["updates_per_row"][2] == MAX_UPDATES_PER_ROW


RESUME = {
    "name": "rows_resume", "seed": 0, "total_timesteps": 240, "torch_threads": 1, "device": "cpu",
    "env": {"type": "pettingzoo", "id": "hlynr/ATC-v0", "vectoriser": "batched", "kwargs": ATC,
            "n_envs": 2},
    "wrappers": [{"normalize": {"norm_obs": True, "norm_reward": False}}],
    "algo": {"name": "SAC", "hyperparams": {"learning_starts": 40, "batch_size": 16, "buffer_size": 2000,
                                            "updates_per_row": 0.25},
             "policy_kwargs": {"net_arch": [16]}},
    "callbacks": [{"checkpoint": {"every": 120, "keep_last": 5}}],
}


def test_resume_through_train_py_keeps_the_row_buffer_and_the_update_count(tmp_path: Path) -> None:
    run = train_then_resume(tmp_path, RESUME, 400)
    models = []
    for steps in (240, 400):
        model = SAC.load(checkpoint_dir(run, steps) / MODEL_FILE, device="cpu")
        model.load_replay_buffer(checkpoint_dir(run, steps) / REPLAY_FILE)
        models.append(model)
    stopped, resumed = models
    old, new = stopped.replay_buffer, resumed.replay_buffer
    assert isinstance(old, RowReplayBuffer) and isinstance(new, RowReplayBuffer)
    assert 0 < old.stored < 240 and old.stored < new.stored < old.stored + 160
    assert new.pos == new.stored, "the buffer continued after the transitions it held"
    np.testing.assert_array_equal(new.observations[: old.pos], old.observations[: old.pos])
    np.testing.assert_array_equal(new.dones[: old.pos], old.dones[: old.pos])
    assert np.all(new.observations[: new.pos, 0, ATC_ACTIVE] == 1.0)
    # the intensity continued too: the 160 new rows' stored transitions earned a quarter update each
    assert resumed.updates_per_row == 0.25 and resumed.gradient_steps >= 0
    earned = 0.25 * (new.stored - old.stored) + stopped._update_credit
    assert resumed._n_updates - stopped._n_updates == math.floor(earned + 1e-9)
    for optimizer in (resumed.actor.optimizer, resumed.critic.optimizer):
        assert {float(s["step"]) for s in optimizer.state_dict()["state"].values()} == {float(resumed._n_updates)}


def _problem(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    return str(err.value)


def with_algo(name: str, **hyperparams: Any) -> dict[str, Any]:
    return {**RESUME, "algo": {"name": name, "hyperparams": hyperparams}}


@pytest.mark.parametrize("data,key,reason", [
    (with_algo("SAC", updates_per_row=0.25, gradient_steps=2), "algo.hyperparams.updates_per_row", "not both"),
    (with_algo("SAC", updates_per_row=0), "algo.hyperparams.updates_per_row", "must be > 0"),
    (with_algo("SAC", updates_per_row=200), "algo.hyperparams.updates_per_row", "<= 128"),
    (with_algo("SAC", updates_per_row=0.25, replay_buffer_class="ReplayBuffer"),
     "algo.hyperparams.updates_per_row", "replay_buffer_class is ReplayBuffer"),
    (with_algo("TD3", updates_per_row=0.25, optimize_memory_usage=True), "algo.hyperparams.updates_per_row",
     "cannot hold optimize_memory_usage"),
    (with_algo("stable_baselines3.SAC", replay_buffer_class="RowReplayBuffer"),
     "algo.hyperparams.replay_buffer_class", "which stable_baselines3.SAC does not fill"),
    ({**with_algo("SAC", updates_per_row=0.25), "env": {**RESUME["env"], "vectoriser": "supersuit"}},
     "algo.hyperparams.updates_per_row", "vectoriser 'supersuit' is not one"),
    ({**with_algo("TQC", replay_buffer_class="RowReplayBuffer"), "wrappers": [],
      "env": {"id": "Pendulum-v1", "n_envs": 2}},
     "algo.hyperparams.replay_buffer_class", "env 'Pendulum-v1' with vectoriser 'dummy' is not one"),
])
def test_configs_that_cannot_use_the_row_buffer_fail_validation(data: dict, key: str, reason: str) -> None:
    message = _problem(data)
    assert key in message and reason in message, message


def test_updates_per_row_on_an_on_policy_algorithm_fails_before_anything_runs(tmp_path: Path) -> None:
    cfg = tmp_path / "ppo.yaml"
    cfg.write_text(yaml.safe_dump(with_algo("PPO", updates_per_row=0.25, n_steps=64)))
    res = cli("train.py", "--config", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--check")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    first, *problems = res.stderr.strip().splitlines()
    assert first.startswith("error:") and len(problems) == 1, res.stderr
    assert ": algo.hyperparams.updates_per_row: " in problems[0], res.stderr
    assert not (tmp_path / "runs").exists()
    validate_config(with_algo("SAC", updates_per_row=0.25))
    validate_config(with_algo("TQC", replay_buffer_class="RowReplayBuffer"))
