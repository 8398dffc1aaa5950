"""Hlynr's general-purpose wrappers: parameter models and apply functions.

A config lists wrappers in order, each as ``name`` or ``{name: {param: value}}``::

    wrappers:
      - time_limit: {max_episode_steps: 500}
      - frame_stack: {n_stack: 4}
      - normalize: {norm_obs: true, norm_reward: true}

They are registered in :data:`hlynr.registries.WRAPPERS` by :mod:`hlynr.builtins`.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import RecordConstructorArgs
from pydantic import Field
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecNormalize

from hlynr.config.base import StrictModel
from hlynr.registries import ChecksSpaces, WrapContext, entity_layout_of


class FrameStackParams(StrictModel):
    """Stack the last ``n_stack`` observations (SB3 ``VecFrameStack``)."""

    n_stack: int = Field(4, ge=1, le=256, strict=True)


class NormalizeParams(StrictModel):
    """Running mean/std normalisation of observations and/or rewards (SB3 ``VecNormalize``).

    Its statistics are saved with every checkpoint and best model and restored on resume and
    evaluation.
    """

    norm_obs: bool = True
    norm_reward: bool = True
    clip_obs: float = Field(10.0, gt=0, allow_inf_nan=False)
    clip_reward: float = Field(10.0, gt=0, allow_inf_nan=False)
    gamma: float | None = Field(None, gt=0, le=1, description="defaults to the algorithm's gamma")
    epsilon: float = Field(1e-8, gt=0, allow_inf_nan=False)
    raw_validity: bool | None = Field(
        None, description="pass the validity flags of the env's entity slots through unnormalised "
        "(0/1); default: when the policy's features extractor reads entity slots (attention, "
        "deepsets), whose masks test the flag against 0.5")


class TimeLimitParams(StrictModel):
    """End (truncate) episodes after ``max_episode_steps`` steps."""

    max_episode_steps: int = Field(..., ge=1, strict=True)


class MaskObservationParams(StrictModel, ChecksSpaces):
    """Keep only the listed indices of a flat Box observation (e.g. hide velocities)."""

    keep: list[int] = Field(..., min_length=1)

    def check_spaces(self, observation_space: Any, action_space: Any) -> tuple[tuple[Any, ...], str] | None:
        """The first index that the observation does not have (``keep[i]``), or None."""
        return mask_problem(observation_space, self.keep)


def mask_problem(space: Any, keep: list[int]) -> tuple[tuple[Any, ...], str] | None:
    """What makes ``keep`` unusable on ``space``: ``(sub-path, message)``, or None."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        return ("keep",), f"mask_observation needs a flat Box observation space, not {space}"
    n = space.shape[0]
    for i, index in enumerate(keep):
        if not -n <= index < n:
            return ("keep", i), (f"index {index} is out of range: the observation has {n} entries, "
                                 f"so keep takes 0..{n - 1} (or -{n}..-1 from the end)")
    return None


def frame_stack(venv: VecEnv, p: FrameStackParams, ctx: WrapContext) -> VecEnv:
    """SB3's ``VecFrameStack``."""
    return VecFrameStack(venv, n_stack=p.n_stack)


class SlotFlagsVecNormalize(VecNormalize):
    """``VecNormalize`` that leaves the entries ``raw_index`` of a flat observation as they are.

    The validity flags of entity slots are 0/1 and an extractor masks slots by testing them
    against 0.5; standardised, a flag that is 1 on most rows becomes about 0.3 (or 0 when it is
    always 1) and every slot would be masked out. The statistics of those entries are still kept
    (and saved), they are just not applied.
    """

    def __init__(self, venv: VecEnv, raw_index: list[int], **kwargs: Any) -> None:
        super().__init__(venv, **kwargs)
        self.raw_index = np.asarray(raw_index, dtype=np.int64)

    def normalize_obs(self, obs: Any) -> Any:
        out = super().normalize_obs(obs)
        if self.norm_obs and isinstance(obs, np.ndarray) and isinstance(out, np.ndarray):
            out[..., self.raw_index] = obs[..., self.raw_index]
        return out

    def unnormalize_obs(self, obs: Any) -> Any:
        out = super().unnormalize_obs(obs)
        if self.norm_obs and isinstance(obs, np.ndarray) and isinstance(out, np.ndarray):
            out[..., self.raw_index] = obs[..., self.raw_index]
        return out


def validity_indices(venv: VecEnv) -> list[int] | None:
    """Indices of the slot validity flags in the flat observation of an env that declares an
    entity layout (None otherwise)."""
    layout = entity_layout_of(venv)
    space = venv.observation_space
    if layout is None or not isinstance(space, gym.spaces.Box) or space.shape != (layout.size,):
        return None
    return [layout.own_size + i * layout.slot_size + layout.valid_index for i in range(layout.slots)]


def normalize(venv: VecEnv, p: NormalizeParams, ctx: WrapContext) -> VecEnv:
    """SB3's ``VecNormalize``; frozen statistics and raw rewards for evaluation envs. With
    ``raw_validity`` (default: when the policy reads entity slots) the slots' validity flags
    pass through unnormalised (:class:`SlotFlagsVecNormalize`)."""
    raw = ctx.reads_slots if p.raw_validity is None else p.raw_validity
    index = validity_indices(venv) if raw and p.norm_obs else None
    if raw and p.raw_validity and p.norm_obs and index is None:
        raise ValueError("normalize: raw_validity needs an env that declares an entity_layout "
                         "with flat observations")
    cls: Any = VecNormalize if index is None else functools.partial(SlotFlagsVecNormalize, raw_index=index)
    return cls(
        venv, training=ctx.training, norm_obs=p.norm_obs,
        norm_reward=p.norm_reward and ctx.training, clip_obs=p.clip_obs,
        clip_reward=p.clip_reward, epsilon=p.epsilon,
        gamma=p.gamma if p.gamma is not None else ctx.gamma,
    )


def time_limit(env: gym.Env, p: TimeLimitParams, ctx: WrapContext) -> gym.Env:
    """Gymnasium's ``TimeLimit`` (a truncation, bootstrapped)."""
    return gym.wrappers.TimeLimit(env, max_episode_steps=p.max_episode_steps)


class MaskObservation(gym.ObservationWrapper, RecordConstructorArgs):
    """Keeps the entries ``keep`` of a flat Box observation."""

    def __init__(self, env: gym.Env, keep: list[int]) -> None:
        RecordConstructorArgs.__init__(self, keep=list(keep))
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        problem = mask_problem(space, list(keep))
        if problem:
            raise ValueError(f"mask_observation: {problem[1]}")
        assert isinstance(space, gym.spaces.Box)
        self.keep = list(keep)
        self.observation_space = gym.spaces.Box(space.low[self.keep], space.high[self.keep],
                                                dtype=space.dtype)

    def observation(self, observation: Any) -> Any:
        return observation[self.keep]


def mask_observation(env: gym.Env, p: MaskObservationParams, ctx: WrapContext) -> gym.Env:
    """:class:`MaskObservation` with the configured indices."""
    return MaskObservation(env, p.keep)
