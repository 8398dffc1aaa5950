"""A privileged (truth-fed) teacher for pretraining, with a student that sees only its radar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imitation_testing as it
import numpy as np
import pytest
from hlynr_testing import run_fresh

from hlynr.config import ConfigError, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.envs.intercept.core import commands
from hlynr.envs.intercept.observation import OBS_SLICES
from hlynr.envs.intercept.privileged import to_own_frame
from hlynr.envs.intercept.vec_env import BatchedInterceptVecEnv
from hlynr.guidance.baselines import PNParams
from hlynr.guidance.laws import proportional_navigation
from hlynr.imitation.collect import collect_round
from hlynr.imitation.dataset import Dataset
from hlynr.imitation.feed import teacher_feed
from hlynr.registries import BASELINES, BaselineEntry
from hlynr.training.runner import start_run

INTERCEPT = "hlynr/Intercept-v0"
RADAR = {"mode": "radar", "filter": "ca", "process_noise": 100.0}
TRUTH = {"mode": "truth"}


def pn(obs: np.ndarray, n_gain: float = 6.0) -> np.ndarray:
    """The ``pn`` baseline's action (its law, clipped per axis)."""
    law = proportional_navigation(np.asarray(obs, dtype=np.float64), n_gain)
    return np.clip(law, -1.0, 1.0).astype(np.float32)


def commanded(actions: np.ndarray) -> np.ndarray:
    """The lateral command ``(n, 2)`` (/ a_max) the engine executes for ``actions`` in their frame."""
    u, _, scale = commands(actions, len(actions))
    return (u * scale).T


def config(algo: str = "RecurrentPPO", sensor: dict[str, Any] | None = None,
           **pretrain: Any) -> dict[str, Any]:
    """A tiny privileged-teacher run on the batched Intercept env."""
    policy_kwargs: dict[str, Any] = {"net_arch": [16]}
    if algo == "RecurrentPPO":
        policy_kwargs["lstm_hidden_size"] = 8
    return {
        "name": "privileged", "seed": 2, "total_timesteps": 64, "torch_threads": 1,
        "env": {"id": INTERCEPT, "n_envs": 4, "vectoriser": "batched",
                "kwargs": {"scenario": "manoeuvring", "sensor": sensor or RADAR}},
        "wrappers": [{"normalize": {}}],
        "algo": {"name": algo, "hyperparams": {"n_steps": 16, "batch_size": 32, "n_epochs": 1},
                 "policy_kwargs": policy_kwargs},
        "pretrain": {"teacher": {"name": "pn", "params": {"N": 6.0}, "observes": "truth"},
                     "method": "dagger", "rounds": 2, "steps": 128, "epochs": 2, "loss": "mse",
                     "student_prob": 0.5, "critic_warmup": {"rollouts": 1, "epochs": 1},
                     "regularizer": {"loss": "kl"}, "freeze_normalization": True, **pretrain},
        "callbacks": [],
    }


def truth_frame(core: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(e_y, e_z)`` (3, n) each of the TRUE line of sight, from the engine's true state."""
    e_v = core.mv / np.linalg.norm(core.mv, axis=0)
    los = (core.tp - core.mp) / np.linalg.norm(core.tp - core.mp, axis=0)
    perp = los - (los * e_v).sum(0) * e_v
    e_y = perp / np.linalg.norm(perp, axis=0)
    return e_y, np.cross(e_v, e_y, axis=0)


class SpyTeacher:
    """Truth-fed PN that records, per call, what a correct conversion must label: the world-frame
    command of its action in the true-LOS frame, projected on the student's action frame."""

    engine: BatchedInterceptVecEnv | None = None
    expected: list[np.ndarray] = []
    seen: list[np.ndarray] = []

    def __init__(self, observation_space: Any, action_space: Any, params: PNParams) -> None:
        self.n_gain = params.N

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        obs = np.asarray(observation)
        action = pn(obs, self.n_gain)
        core = self.engine.core  # type: ignore[union-attr]
        e_y, e_z = truth_frame(core)
        u = commanded(action)
        world = u[:, 0] * e_y + u[:, 1] * e_z  # (3, n), / a_max
        SpyTeacher.expected.append(np.stack([(world * core.e_y).sum(0), (world * core.e_z).sum(0)], 1))
        SpyTeacher.seen.append(obs.copy())
        return action, state


if "pn_spy" not in BASELINES.names():
    BASELINES.register("pn_spy", BaselineEntry(
        PNParams, lambda o, a, p: SpyTeacher(o, a, p), (INTERCEPT,), {}))


# --- (c) config validation ------------------------------------------------------------------


@pytest.mark.parametrize("case", ["dummy", "single_env", "batched_without_truth"])
def test_observes_truth_is_rejected_where_the_env_cannot_show_the_truth(case: str) -> None:
    if case == "dummy":
        data = config()
        data["env"]["vectoriser"] = "dummy"
        why = "needs env.vectoriser: batched"
    elif case == "single_env":
        data = it.follow_config()
        why = "has none"
    else:
        data = it.rows_config("PPO")
        why = "does not"
    data["pretrain"]["teacher"]["observes"] = "truth"
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    assert "pretrain.teacher.observes: observes: truth" in str(err.value)
    assert why in str(err.value)
    data["pretrain"]["teacher"]["observes"] = "own"  # the same config is fine without it
    validate_config(data)


def test_observes_is_validated_and_the_teacher_checked_against_the_truth_sensor() -> None:
    assert validate_config(config()).pretrain.teacher.observes == "truth"
    data = config()
    del data["pretrain"]["teacher"]["observes"]
    assert validate_config(data).pretrain.teacher.observes == "own"
    data["pretrain"]["teacher"]["observes"] = "radar"
    with pytest.raises(ConfigError, match=r"pretrain\.teacher\.observes"):
        validate_config(data)
    # truth_pn needs the truth sensor: rejected on the student's radar path, fine when truth-fed
    data["pretrain"]["teacher"] = {"name": "truth_pn", "observes": "own"}
    with pytest.raises(ConfigError, match=r"needs env.kwargs.sensor: \{mode: truth\}"):
        validate_config(data)
    data["pretrain"]["teacher"]["observes"] = "truth"
    validate_config(data)


# --- (b) the frame conversion -----------------------------------------------------------------


def test_the_conversion_keeps_the_world_frame_command_on_constructed_states() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    angle = rng.uniform(-np.pi, np.pi, n)
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([c, -s], 1), np.stack([s, c], 1)], 1)  # (n, 2, 2)
    actions = rng.uniform(-1.6, 1.6, (n, 2)).astype(np.float32)  # many saturated, some clipped
    actions[:5] = [[np.nan, 0.5], [np.inf, -np.inf], [1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]]
    own = to_own_frame(actions, rotation)
    assert own.dtype == np.float32 and np.all(np.abs(own) <= 1.0)
    want = np.einsum("nab,nb->na", rotation, commanded(actions))  # the teacher's command, rotated
    np.testing.assert_allclose(commanded(own), want, atol=1e-6)
    assert np.abs(own[5:] - actions[5:].clip(-1, 1)).max() > 0.5  # the rotation changed them
    # the identity rotation keeps the teacher's (finite, in-range) actions as they are
    eye = np.broadcast_to(np.eye(2), (n, 2, 2))
    np.testing.assert_array_equal(to_own_frame(actions[5:], eye[5:]), np.clip(actions[5:], -1, 1))


def test_with_the_truth_sensor_the_truth_fed_teacher_acts_as_the_plain_teacher() -> None:
    cfg = validate_config(config(sensor=TRUTH))
    rounds = {}
    for observes in ("own", "truth"):
        venv = build_vec_env(cfg, observation_tap=True)
        teacher = BASELINES.get("pn").policy(venv.observation_space, venv.action_space, {"N": 6.0})
        rounds[observes] = collect_round(venv, teacher, None, 120, 0.0, np.random.default_rng(0),
                                         feed=teacher_feed(venv, observes))
        venv.close()
    own, truth = rounds["own"], rounds["truth"]
    np.testing.assert_array_equal(truth.obs, own.obs)
    np.testing.assert_allclose(truth.actions, own.actions, atol=1e-6)
    assert np.abs(own.actions).max() == 1.0 and own.starts[1:].any()  # saturated steps, resets


def test_with_the_radar_the_converted_command_is_the_truth_fed_pn_command() -> None:
    """A radar env driven by the converted truth-fed PN and a truth-sensor env driven by PN on
    its own observation, same seeds: the same world-frame commands and true trajectories."""
    kwargs = {"scenario": "manoeuvring"}
    radar = BatchedInterceptVecEnv(8, seed=5, sensor=RADAR, **kwargs)
    truth = BatchedInterceptVecEnv(8, seed=5, sensor=TRUTH, **kwargs)
    radar.reset()
    truth_obs = truth.reset()
    a_max = float(truth.core.D["a_max"].max())
    changed = 0.0
    for _ in range(150):
        seen = radar.privileged_observations()
        np.testing.assert_allclose(seen, truth_obs, atol=1e-4)  # the truth sensor's observation
        chosen = pn(seen)
        converted = radar.privileged_to_own_actions(chosen)
        changed = max(changed, float(np.abs(converted - chosen).max()))
        _, _, radar_done, _ = radar.step(converted)
        truth_obs, _, truth_done, _ = truth.step(pn(truth_obs))
        np.testing.assert_allclose(radar.core.last_accel_cmd, truth.core.last_accel_cmd,
                                   atol=1e-6 * a_max)
        np.testing.assert_array_equal(radar_done, truth_done)
    np.testing.assert_allclose(radar.core.mp, truth.core.mp, atol=1e-3)
    assert changed > 0.03  # the estimated and the true LOS frames differed (not the identity)
    with pytest.raises(RuntimeError, match="privileged_observations"):
        radar.privileged_to_own_actions(chosen)  # stepped since the view: its frames are stale


def test_worker_processes_give_the_same_privileged_view() -> None:
    kwargs = {"scenario": "manoeuvring", "sensor": RADAR}
    one = BatchedInterceptVecEnv(6, seed=3, **kwargs)
    two = BatchedInterceptVecEnv(6, seed=3, workers=2, **kwargs)
    try:
        one.reset()
        two.reset()
        for _ in range(20):
            seen = one.privileged_observations()
            np.testing.assert_array_equal(two.privileged_observations(), seen)
            act = one.privileged_to_own_actions(pn(seen))
            np.testing.assert_array_equal(two.privileged_to_own_actions(pn(seen)), act)
            one.step(act)
            two.step(act)
    finally:
        two.close()


# --- (d) the DAgger labels, through a run -----------------------------------------------------


def test_dagger_labels_are_the_truth_fed_teachers_commands_in_the_students_frame(
        runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hlynr.imitation.feed as feed_module

    real = feed_module.privileged_source

    def spied(tap: Any) -> Any:
        SpyTeacher.engine = real(tap)
        return SpyTeacher.engine

    monkeypatch.setattr(feed_module, "privileged_source", spied)
    SpyTeacher.expected, SpyTeacher.seen = [], []
    data = config()
    data["pretrain"].update(teacher={"name": "pn_spy", "params": {"N": 6.0}, "observes": "truth"},
                            student_prob={"schedule": "linear", "start": 0.0, "end": 1.0})
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    dataset = Dataset.load(run / "pretrain" / "dataset.npz")
    assert [r.student_prob for r in dataset.rounds] == [0.0, 1.0]
    labels = np.concatenate([r.actions for r in dataset.rounds])
    expected = np.stack(SpyTeacher.expected)
    assert labels.shape == expected.shape == (32, 4, 2)
    # the label commands (as the engine reads it) the teacher's world-frame command
    np.testing.assert_allclose(commanded(labels.reshape(-1, 2)), expected.reshape(-1, 2), atol=1e-5)
    # the teacher saw the truth: exact range, no track uncertainty
    seen = np.stack(SpyTeacher.seen)
    assert np.all(seen[..., OBS_SLICES["pos_std"]] == 0) and np.all(seen[..., OBS_SLICES["detected"]] == 1)
    # the student's inputs are its own radar observations, not the teacher's
    student_obs = np.concatenate([r.obs for r in dataset.rounds])
    assert student_obs.shape == seen.shape
    assert np.all(student_obs[..., OBS_SLICES["pos_std"]] > 0)
    # and the labels are not what PN on the student's own observation would say
    assert np.abs(labels - pn(student_obs.reshape(-1, 28)).reshape(labels.shape)).max() > 0.1


# --- (a) the saved model sees only its own observation ---------------------------------------

_PREDICT = """
import sys
import numpy as np
from stable_baselines3.common.vec_env import VecNormalize
from hlynr.envs.intercept.vec_env import BatchedInterceptVecEnv

algo = sys.argv[1]
if algo == "RecurrentPPO":
    from sb3_contrib import RecurrentPPO as cls
else:
    from stable_baselines3 import PPO as cls
for folder in sys.argv[2:]:
    model = cls.load(folder + "/model.zip", device="cpu")
    env = BatchedInterceptVecEnv(3, seed=7, scenario="manoeuvring",
                                 sensor={"mode": "radar", "filter": "ca", "process_noise": 100.0})
    assert model.observation_space == env.observation_space, model.observation_space
    env = VecNormalize.load(folder + "/vecnormalize.pkl", env)
    env.training = False
    obs, state, starts = env.reset(), None, np.ones(3, dtype=bool)
    for _ in range(5):
        act, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        assert act.shape == (3, 2) and np.isfinite(act).all()
        obs, _, starts, _ = env.step(act)
    print(type(model).__name__, model.observation_space.shape)
"""


@pytest.mark.parametrize("algo", ["RecurrentPPO", "PPO"])
def test_the_saved_model_predicts_from_its_own_radar_observation_in_a_fresh_process(
        runs_dir: Path, algo: str) -> None:
    data = config(algo)
    data["pretrain"]["steps"] = 64
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    out = run_fresh(_PREDICT, algo, str(run / "pretrain"), str(run / "final"))
    assert out.splitlines() == [f"{algo} (28,)"] * 2
