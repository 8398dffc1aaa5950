"""What every centralised-critic algorithm shares: critic rows in rollouts, value targets, losses.

:class:`CentralisedCriticMixin` goes in front of an SB3 on-policy algorithm (``PPO`` for
:class:`~.mappo.MAPPO`, hlynr's ``RecurrentPPO`` for :class:`~.recurrent.RecurrentMAPPO`). It

* reads the env's critic rows (``critic_observation_space``, ``critic_observations()``, see
  :class:`~hlynr.registries.CriticStateSource`) and refuses an env without them before anything
  is built (:func:`no_global_state`);
* collects rollouts that store ``[local observation | critic row]`` per row; values come from
  the critic rows, actions from the local observations only (the algorithm's
  :meth:`~CentralisedCriticMixin._act` and :meth:`~CentralisedCriticMixin._store` hooks);
* bootstraps time-limit ends from ``info["terminal_critic_observation"]``;
* trains the critic on normalised targets (:class:`~.value_norm.ValueNorm`, updated with each
  rollout's returns before its epochs) with a mean-squared or Huber value loss.

Settings added to the algorithm's constructor (and so to ``algo.hyperparams``):
``value_normalisation`` (default True), ``value_loss`` (``mse``, SB3's default, or ``huber``,
the MAPPO paper's) and ``huber_delta`` (> 0, default 10 as in MAPPO; only with ``huber``).
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

if TYPE_CHECKING:
    from hlynr.algos.centralised.policy import CriticHeadMixin

    # The mixin sits in front of an SB3 on-policy algorithm (PPO, hlynr's RecurrentPPO), an ABC.
    _AlgorithmBase = OnPolicyAlgorithm
else:
    _AlgorithmBase = ABC

_Rows = TypeVar("_Rows", np.ndarray, th.Tensor)
"""Rollout rows: arrays or tensors."""


def no_global_state(algo: str) -> str:
    """The one error message for an env without critic rows."""
    return (f"{algo} needs a global state for its centralised critic, and this env publishes none "
            "(no critic_observation_space)")


NO_GLOBAL_STATE = no_global_state("MAPPO")
VALUE_LOSSES = ("mse", "huber")
DEFAULT_HUBER_DELTA = 10.0
"""MAPPO's Huber delta (marlbenchmark/on-policy ``huber_delta``)."""


def critic_space_of(env: VecEnv, algo: str = "MAPPO") -> spaces.Box:
    """The env's critic-row Box, or ``ValueError`` with :func:`no_global_state`."""
    space = getattr(env, "critic_observation_space", None)
    if not isinstance(space, spaces.Box):
        raise ValueError(no_global_state(algo))
    return space


def value_loss_fn(kind: str, delta: float | None) -> Callable[[th.Tensor, th.Tensor], th.Tensor]:
    """``loss(prediction, target)``: mean squared error, or mean Huber loss with ``delta``.

    Huber is ``0.5 e^2`` for ``|e| <= delta`` and ``delta (|e| - delta / 2)`` beyond (torch's
    ``huber_loss``, MAPPO's ``huber_loss``): half the squared error near the target, so at equal
    ``vf_coef`` its gradient there is half MSE's.
    """
    if kind == "huber":
        if delta is None:
            raise ValueError("the huber value loss needs a delta")
        huber_delta = float(delta)
        return lambda pred, target: F.huber_loss(pred, target, delta=huber_delta)
    return F.mse_loss


class CentralisedCriticMixin(_AlgorithmBase):
    """Critic rows, value normalisation and the value loss for an SB3 on-policy algorithm.

    The algorithm supplies :meth:`_act` (actions, values and log-probabilities of one step),
    :meth:`_store` (add the step to its rollout buffer) and :meth:`_make_buffer`; its policy
    offers ``values_from_critic`` and a ``value_norm`` (:mod:`.policy`).
    """

    policy: CriticHeadMixin
    value_normalisation: bool
    value_loss: str
    huber_delta: float | None
    _local_dim: int

    def _set_critic_options(self, value_normalisation: bool, value_loss: str,
                            huber_delta: float | None) -> None:
        if value_loss not in VALUE_LOSSES:
            raise ValueError(f"value_loss must be one of {', '.join(VALUE_LOSSES)}; got {value_loss!r}")
        if huber_delta is not None and value_loss != "huber":
            raise ValueError("huber_delta applies only with value_loss: huber")
        if value_loss == "huber":
            huber_delta = DEFAULT_HUBER_DELTA if huber_delta is None else float(huber_delta)
            if not (math.isfinite(huber_delta) and huber_delta > 0):
                raise ValueError(f"huber_delta must be a finite number > 0; got {huber_delta}")
        self.value_normalisation = bool(value_normalisation)
        self.value_loss, self.huber_delta = value_loss, huber_delta

    # --- setup ---------------------------------------------------------------------------------
    def _setup_model(self) -> None:
        """The algorithm's setup with the critic's space; then a buffer of joint rows."""
        name = type(self).__name__
        if self.env is not None:
            self.policy_kwargs["critic_observation_space"] = critic_space_of(self.env, name)
        elif "critic_observation_space" not in self.policy_kwargs:
            raise ValueError(no_global_state(name))
        local = getattr(self, "observation_space", None)
        if not (isinstance(local, spaces.Box) and len(local.shape) == 1):
            raise ValueError(f"{name} needs flat Box observations")
        super()._setup_model()
        self.policy.value_norm.enabled = self.value_normalisation
        self._local_dim = local.shape[0]
        critic = self.policy_kwargs["critic_observation_space"]
        joint = spaces.Box(-np.inf, np.inf, (self._local_dim + int(np.prod(critic.shape)),), np.float32)
        self.rollout_buffer = self._make_buffer(joint)  # rows of [local observation | critic row]

    @abstractmethod
    def _make_buffer(self, joint: spaces.Box) -> RolloutBuffer:
        """The rollout buffer over joint ``[local | critic]`` rows."""

    def split_rows(self, rows: _Rows) -> tuple[_Rows, _Rows]:
        """Rollout rows ``[local observation | critic row]`` as ``(local, critic)``."""
        return rows[:, : self._local_dim], rows[:, self._local_dim:]

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_local_dim"]

    # --- rollouts ------------------------------------------------------------------------------
    def _critic_rows(self, env: VecEnv) -> np.ndarray:
        # A CriticStateSource method, reached through the VecEnv wrappers' attribute forwarding.
        rows = env.critic_observations()  # type: ignore[attr-defined]
        return np.asarray(rows, dtype=np.float32).reshape(env.num_envs, -1)

    @abstractmethod
    def _act(self, obs: th.Tensor, critic: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Actions, values (return units) and log-probabilities of one rollout step."""

    @abstractmethod
    def _store(self, buffer: Any, joint: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
               values: th.Tensor, log_probs: th.Tensor) -> None:
        """Add one step to ``buffer`` (and advance any per-step state of the algorithm)."""

    def _bootstrap_time_limits(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict]) -> None:
        """Add ``gamma * V(terminal critic row)`` to the rewards of time-limit ends, in place."""
        for idx, done in enumerate(dones):
            info = infos[idx]
            row = info.get("terminal_critic_observation")
            if done and row is not None and info.get("TimeLimit.truncated", False):
                term = th.as_tensor(np.asarray(row, dtype=np.float32)[None], device=self.device)
                with th.no_grad():
                    rewards[idx] += self.gamma * self.policy.values_from_critic(term)[0, 0].item()

    def collect_rollouts(self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer,
                         n_rollout_steps: int) -> bool:
        """SB3's rollout collection, with values from the critic rows and stored beside the obs."""
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()
        critic = self._critic_rows(env)
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            last_obs = self._last_obs
            assert isinstance(last_obs, np.ndarray)  # flat Box observations (see _setup_model)
            with th.no_grad():
                actions_t, values, log_probs = self._act(th.as_tensor(last_obs, device=self.device),
                                                         th.as_tensor(critic, device=self.device))
            actions = actions_t.cpu().numpy()
            clipped = actions
            if isinstance(self.action_space, spaces.Box):
                clipped = (self.policy.unscale_action(clipped) if self.policy.squash_output
                           else np.clip(actions, self.action_space.low, self.action_space.high))
            new_obs, rewards, dones, infos = env.step(clipped)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            self._bootstrap_time_limits(rewards, dones, infos)
            joint = np.concatenate([np.asarray(self._last_obs, dtype=np.float32).reshape(env.num_envs, -1),
                                    critic], axis=1)
            self._store(rollout_buffer, joint, actions, rewards, values, log_probs)
            self._last_obs = new_obs  # type: ignore[assignment]  # SB3's VecEnvObs also admits tuples
            self._last_episode_starts = dones
            critic = self._critic_rows(env)
        with th.no_grad():
            values = self.policy.values_from_critic(th.as_tensor(critic, device=self.device))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    # --- training ------------------------------------------------------------------------------
    def update_value_norm(self) -> None:
        """Fold this rollout's value targets into the ValueNorm statistics (if normalising)."""
        if self.value_normalisation:
            self.policy.value_norm.update(th.as_tensor(self.rollout_buffer.returns))

    def _value_loss(self, values: th.Tensor, returns: th.Tensor, old_values: th.Tensor,
                    clip_range_vf: float | None) -> th.Tensor:
        """The critic's loss: predictions (normalised) against normalised targets.

        With ``clip_range_vf`` the prediction is clipped around the (normalised) old value, as in
        SB3's PPO; then :func:`value_loss_fn`.
        """
        vn = self.policy.value_norm  # the identity without value normalisation
        returns, old_values = vn.normalize(returns), vn.normalize(old_values)
        pred = values if clip_range_vf is None else old_values + th.clamp(
            values - old_values, -clip_range_vf, clip_range_vf)
        return value_loss_fn(self.value_loss, self.huber_delta)(pred, returns)

    def _log_value_norm(self) -> None:
        mean, var = self.policy.value_norm.mean_var()
        self.logger.record("train/value_norm_mean", float(mean[0]))
        self.logger.record("train/value_norm_std", float(th.sqrt(var)[0]))


def critic_init(base: type[OnPolicyAlgorithm]) -> Callable[..., None]:
    """An ``__init__`` for ``Mixin + base`` taking the critic settings, with ``base``'s signature
    plus those settings (what configs may set)."""

    def __init__(self: CentralisedCriticMixin, policy: str | type[ActorCriticPolicy], env: GymEnv | str,
                 *args: Any, value_normalisation: bool = True,
                 value_loss: str = "mse", huber_delta: float | None = None, **kwargs: Any) -> None:
        self._set_critic_options(value_normalisation, value_loss, huber_delta)
        base.__init__(self, policy, env, *args, **kwargs)

    sig = inspect.signature(base.__init__)
    kw = inspect.Parameter.KEYWORD_ONLY
    extra = [inspect.Parameter("value_normalisation", kw, default=True, annotation=bool),
             inspect.Parameter("value_loss", kw, default="mse", annotation=Literal["mse", "huber"]),
             inspect.Parameter("huber_delta", kw, default=None, annotation=float | None)]
    # Functions take arbitrary attributes; inspect.signature reads this one.
    __init__.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])  # type: ignore[attr-defined]
    __init__.__doc__ = (f"``{base.__name__}``'s arguments plus ``value_normalisation``, ``value_loss`` "
                        "and ``huber_delta`` (see :mod:`hlynr.algos.centralised.critic_rows`).")
    return __init__
