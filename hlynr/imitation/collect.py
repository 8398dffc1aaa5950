"""Teacher and DAgger rollouts: the teacher labels every state, the student may drive.

The VecEnv is the training env built with an observation tap
(:func:`hlynr.envs.factory.build_vec_env` with ``observation_tap=True``): the teacher acts on
the tap's task-level observation (sensor wrappers only, never stacked or normalised), the
student's own processed observation comes out of the full chain, and a ``normalize`` wrapper
keeps collecting its statistics. With a VecNormalize outermost, the unnormalised observation
is stored and normalised with the final statistics when training (:func:`prepare`).

In a round with student probability ``p``, each row at each step is driven by the student with
probability ``p`` and by the teacher otherwise; the label is always the teacher's action on the
state actually visited (Ross et al., DAgger).

What the teacher acts on is its :class:`~hlynr.imitation.feed.TeacherFeed`: the tap's
observation by default, or a privileged (truth) observation whose actions the env carries into
the student's frame; either way the label is the action the teacher's feed executes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from hlynr.imitation.dataset import Obs, Round, stack
from hlynr.imitation.feed import TeacherFeed, teacher_feed, vec_obs
from hlynr.registries import Policy


def _copy(obs: Obs) -> Obs:
    return {k: np.array(v) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs)


def stored_observation(venv: VecEnv, obs: Obs) -> Obs:
    """What the data set keeps of the student's observation (unnormalised if it can be)."""
    if isinstance(venv, VecNormalize) and venv.norm_obs:
        return _copy(venv.get_original_obs())
    return _copy(obs)


def prepare(venv: VecEnv | None, obs: Obs) -> Obs:
    """Stored observations as the student sees them now (current normalisation statistics)."""
    if isinstance(venv, VecNormalize) and venv.norm_obs:
        return venv.normalize_obs(obs)
    return obs


def _active(infos: list[dict[str, Any]]) -> np.ndarray:
    """Rows that are live: an info ``active: False`` marks an inactive multi-agent row."""
    return np.array([bool(info.get("active", True)) for info in infos])


def collect_round(
    venv: VecEnv, teacher: Policy, student: BaseAlgorithm, n_steps: int, student_prob: float,
    rng: np.random.Generator, should_stop: Callable[[], bool] = lambda: False,
    feed: TeacherFeed | None = None,
) -> Round:
    """Run ``n_steps`` steps of every row from a reset and return the labelled round (fewer
    steps, at least one, once ``should_stop()`` is true). ``feed``: what the teacher acts on
    (default: the observation tap's observation)."""
    feed = feed or teacher_feed(venv)
    n = venv.num_envs
    obs = vec_obs(venv.reset())
    starts = np.ones(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    t_state = s_state = None
    rec_obs, rec_act, rec_starts, rec_mask = [], [], [], []
    for t in range(n_steps):
        if t and should_stop():
            break
        # Policy types observations as arrays; a model teacher may also read a dict of them.
        chosen, t_state = teacher.predict(feed.observe(), state=t_state,  # type: ignore[arg-type]
                                          episode_start=starts, deterministic=True)
        label = feed.label(np.asarray(chosen))
        rec_obs.append(stored_observation(venv, obs))
        rec_act.append(label.copy())
        rec_starts.append(starts.copy())
        rec_mask.append(active.copy())
        action = label
        if student_prob > 0:
            mine, s_state = student.predict(obs, state=s_state, episode_start=starts,
                                            deterministic=True)
            drive = rng.random(n) < student_prob
            action = np.where(drive.reshape((n,) + (1,) * (label.ndim - 1)), mine, label)
        step_obs, _, dones, infos = venv.step(action)
        obs = vec_obs(step_obs)
        starts = np.asarray(dones, dtype=bool)
        active = _active(infos) | starts  # a reset row is live again
    return Round(stack(rec_obs), np.stack(rec_act), np.stack(rec_starts), np.stack(rec_mask),
                 student_prob)
