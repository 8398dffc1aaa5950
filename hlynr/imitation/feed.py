"""What a teacher acts on, and how its action becomes the label (``pretrain.teacher.observes``).

* ``own``: the observation tap's observation, the one a baseline gets on the student's sensor
  path (before frame stacking and normalisation); the label is the teacher's action.
* ``truth``: a privileged teacher. The env below the tap publishes, for every row, the
  observation the truth sensor would produce at the same step
  (:class:`~hlynr.registries.PrivilegedObservationSource`); the teacher acts on it, and its
  action, chosen in the truth observation's frame, is carried into the frame of the student's
  own observation by the env (for the Intercept env: the same world-frame lateral acceleration,
  :mod:`hlynr.envs.intercept.privileged`). That converted action is what the teacher executes
  and the student's label. The privileged observation goes to the teacher only: the student's
  input, the data set and the saved model hold the student's own observations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from hlynr.envs.factory import ObservationTap, find_tap
from hlynr.imitation.dataset import Obs
from hlynr.registries import PrivilegedObservationSource


def vec_obs(obs: VecEnvObs | None) -> Obs:
    """A VecEnv's observations as the data set holds them (SB3 has no tuple observations)."""
    if obs is None or isinstance(obs, tuple):
        raise TypeError(f"expected array or dict observations, got {type(obs).__name__}")
    return obs


class TeacherFeed(ABC):
    """A teacher's input and the conversion of its actions into labels, for one VecEnv."""

    observation_space: Any
    action_space: Any

    @abstractmethod
    def observe(self) -> Obs:
        """The teacher's observations of every row's current state."""

    @abstractmethod
    def label(self, actions: np.ndarray) -> np.ndarray:
        """The teacher's actions on :meth:`observe`'s observations as the student's labels (and
        the actions executed when the teacher drives)."""


class OwnFeed(TeacherFeed):
    """The teacher sees the tap's observation (the student's sensor path); labels as given."""

    def __init__(self, tap: ObservationTap) -> None:
        self.tap = tap
        self.observation_space, self.action_space = tap.observation_space, tap.action_space

    def observe(self) -> Obs:
        return vec_obs(self.tap.obs)

    def label(self, actions: np.ndarray) -> np.ndarray:
        return np.asarray(actions)


class TruthFeed(TeacherFeed):
    """The teacher sees the privileged (truth) observation; its actions are carried into the
    student's frame by the env."""

    def __init__(self, source: PrivilegedObservationSource, action_space: Any) -> None:
        self.source = source
        self.observation_space, self.action_space = source.privileged_observation_space, action_space

    def observe(self) -> Obs:
        return np.asarray(self.source.privileged_observations())

    def label(self, actions: np.ndarray) -> np.ndarray:
        return np.asarray(self.source.privileged_to_own_actions(actions))


def privileged_source(tap: ObservationTap) -> PrivilegedObservationSource:
    """The VecEnv below ``tap`` that publishes privileged observations (only episode monitors
    may lie between them: a wrapper that changes observations or actions would be bypassed)."""
    venv: VecEnv = tap.venv
    while not isinstance(venv, PrivilegedObservationSource):
        if not isinstance(venv, VecMonitor):
            raise ValueError(f"observes: truth needs an env that publishes the true state right "
                             f"below the teacher's tap; found {type(venv).__name__}")
        venv = venv.venv
    return venv


def teacher_feed(venv: VecEnv, observes: str = "own") -> TeacherFeed:
    """The feed of a teacher that ``observes`` ``own`` or ``truth`` in a VecEnv built with an
    observation tap; ValueError when the env cannot give it."""
    tap = find_tap(venv)
    if tap is None:
        raise ValueError("the env was built without an observation tap for the teacher")
    if observes == "own":
        return OwnFeed(tap)
    if observes == "truth":
        return TruthFeed(privileged_source(tap), tap.action_space)
    raise ValueError(f"unknown teacher observation '{observes}' (own or truth)")
