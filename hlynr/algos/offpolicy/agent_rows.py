"""Multi-agent rows in hlynr's SAC, TD3 and TQC: the row replay buffer and ``updates_per_row``.

:class:`AgentRowsMixin` sits in front of SB3's algorithm class:

* **The buffer.** With an env that is a VecEnv of multi-agent rows
  (:class:`~hlynr.registries.LiveRowsSource`, e.g. :class:`~hlynr.multiagent.rows.AgentRowsVecEnv`,
  possibly under ``VecNormalize`` or other VecEnv wrappers) and no ``replay_buffer_class``, the
  model stores its transitions in a :class:`~hlynr.algos.offpolicy.row_buffer.RowReplayBuffer`
  (rows without a live agent are left out). It is chosen only where it can hold what SB3's
  buffer would: array observations, ``optimize_memory_usage`` off, one-step returns
  (``n_steps: 1``); otherwise the model keeps SB3's buffer. ``replay_buffer_class:
  RowReplayBuffer`` asks for it explicitly (an error where it cannot work); ``replay_buffer_class:
  ReplayBuffer`` keeps SB3's buffer of every row. Before each ``learn()`` the buffer is bound to
  the model's env, which says which rows carried an agent.
* **Training intensity.** ``updates_per_row`` (> 0, at most :data:`MAX_UPDATES_PER_ROW`) sets the
  gradient steps from the rows actually stored: after each rollout that is followed by training,
  ``updates_per_row`` times the transitions the rollout stored, the fraction carried over to the
  next rollout (saved with the model). It replaces ``gradient_steps`` (the two are exclusive),
  and needs the row buffer.

Without a row VecEnv nothing changes: the same buffer, draws and results as SB3's.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.type_aliases import MaybeCallback, RolloutReturn, TrainFreq
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from hlynr.algos.offpolicy.row_buffer import RowReplayBuffer
from hlynr.registries import LiveRowsSource

if TYPE_CHECKING:
    # The mixin sits in front of SB3's SAC or TD3 or sb3-contrib's TQC.
    _AlgorithmBase = OffPolicyAlgorithm
else:
    _AlgorithmBase = object

MAX_UPDATES_PER_ROW = 128.0
"""The largest ``updates_per_row`` (gradient steps per stored transition)."""


def live_rows_source(env: VecEnv | None) -> LiveRowsSource | None:
    """The VecEnv of multi-agent rows under ``env``'s VecEnv wrappers, or None."""
    seen: Any = env
    while isinstance(seen, VecEnvWrapper):
        seen = seen.venv
    return seen if isinstance(seen, LiveRowsSource) else None


def check_updates_per_row(value: float | None, gradient_steps_given: bool) -> float | None:
    """``updates_per_row`` as a float, or ``ValueError`` for a value out of range or next to
    an explicit ``gradient_steps``."""
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value) or not 0 < value <= MAX_UPDATES_PER_ROW:
        raise ValueError(f"updates_per_row must be > 0 and <= {MAX_UPDATES_PER_ROW:g}, got {value!r}")
    if gradient_steps_given:
        raise ValueError("updates_per_row sets the gradient steps from the rows stored: give it or "
                         "gradient_steps, not both")
    return float(value)


class AgentRowsMixin(_AlgorithmBase):
    """The row replay buffer and ``updates_per_row`` for an SB3 off-policy algorithm (see the
    module docstring)."""

    updates_per_row: float | None
    _update_credit: float
    """Gradient steps earned by stored rows and not yet run (below one)."""

    def _rows_buffer_problem(self) -> str | None:
        """Why the row buffer cannot serve this model, or None."""
        if live_rows_source(self.env) is None:
            return "the env is not a VecEnv of multi-agent rows (env.vectoriser: batched)"
        if isinstance(self.observation_space, spaces.Dict):
            return "the observations are a dict"
        if self.optimize_memory_usage:
            return "optimize_memory_usage is set"
        if self.n_steps > 1:
            return f"n_steps is {self.n_steps} (n-step returns need SB3's NStepReplayBuffer)"
        return None

    def _setup_model(self) -> None:
        """Choose the row buffer for a row VecEnv (unless a buffer class is given), then SB3's set-up."""
        chosen = self.replay_buffer_class
        if chosen is None and self.env is not None and self._rows_buffer_problem() is None:
            self.replay_buffer_class = chosen = RowReplayBuffer
        if self.updates_per_row is not None and not (chosen and issubclass(chosen, RowReplayBuffer)):
            why = (f"replay_buffer_class is {chosen.__name__}" if chosen is not None
                   else self._rows_buffer_problem())
            raise ValueError(f"updates_per_row counts the transitions a RowReplayBuffer stores, and "
                             f"this model has none: {why}")
        super()._setup_model()

    def _setup_learn(self, total_timesteps: int, callback: MaybeCallback = None,
                     reset_num_timesteps: bool = True, tb_log_name: str = "run",
                     progress_bar: bool = False) -> tuple[int, BaseCallback]:
        """SB3's set-up, then the row buffer bound to the env that fills it."""
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name,
                                      progress_bar)
        if isinstance(self.replay_buffer, RowReplayBuffer):
            source = live_rows_source(self.env)
            if source is None:
                raise ValueError(f"{type(self).__name__}'s RowReplayBuffer stores the rows of a "
                                 "VecEnv of multi-agent rows, and this env is not one")
            self.replay_buffer.bind(source)
        return result

    def collect_rollouts(self, env: VecEnv, callback: BaseCallback, train_freq: TrainFreq,
                         replay_buffer: ReplayBuffer, action_noise: ActionNoise | None = None,
                         learning_starts: int = 0, log_interval: int | None = None) -> RolloutReturn:
        """SB3's rollout; with ``updates_per_row``, ``gradient_steps`` for the update after it."""
        before = replay_buffer.stored if isinstance(replay_buffer, RowReplayBuffer) else 0
        rollout = super().collect_rollouts(env, callback, train_freq, replay_buffer, action_noise,
                                           learning_starts, log_interval)
        if self.updates_per_row is not None and isinstance(replay_buffer, RowReplayBuffer):
            self.gradient_steps = 0
            if 0 < self.num_timesteps and self.num_timesteps > learning_starts:  # learn() then trains
                self._update_credit += self.updates_per_row * (replay_buffer.stored - before)
                self.gradient_steps = int(self._update_credit + 1e-9)
                self._update_credit = max(self._update_credit - self.gradient_steps, 0.0)
        return rollout


def rows_init(base: type[OffPolicyAlgorithm]) -> Callable[..., None]:
    """An ``__init__`` for ``AgentRowsMixin + base``: ``base``'s arguments plus ``updates_per_row``,
    with ``base``'s signature plus that argument (what configs may set)."""

    def __init__(self: AgentRowsMixin, policy: Any, env: Any, *args: Any,
                 updates_per_row: float | None = None, **kwargs: Any) -> None:
        self.updates_per_row = check_updates_per_row(updates_per_row, "gradient_steps" in kwargs)
        self._update_credit = 0.0
        if self.updates_per_row is not None:
            kwargs["gradient_steps"] = 0  # set after each rollout from the rows it stored
        base.__init__(self, policy, env, *args, **kwargs)

    sig = inspect.signature(base.__init__)
    extra = inspect.Parameter("updates_per_row", inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=float | None)
    # Functions take arbitrary attributes; inspect.signature reads this one.
    __init__.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
    __init__.__doc__ = (f"``{base.__name__}``'s arguments plus ``updates_per_row`` (see "
                        ":mod:`hlynr.algos.offpolicy.agent_rows`).")
    return __init__
