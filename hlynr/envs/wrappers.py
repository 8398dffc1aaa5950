"""The wrapper registry: short names in a config's ``wrappers:`` list -> wrapper factories.

A config lists wrappers in order, each as ``name`` or ``{name: {param: value}}``::

    wrappers:
      - time_limit: {max_episode_steps: 500}
      - frame_stack: {n_stack: 4}
      - normalize: {norm_obs: true, norm_reward: true}

Each entry declares a parameter model (a :class:`~hlynr.config.base.StrictModel`, so unknown keys
fail with a suggestion) and how it applies:

* ``env``: applied to every single environment before vectorisation (``dummy``/``subproc``);
* ``vec``: applied to the vectorised environment (any vectoriser, including ``batched``).

An entry may provide both; then ``vec`` is used with the ``batched`` vectoriser and ``env``
otherwise. Env-level wrappers must come before vec-level ones in the list. Later modules add
their own entries with :func:`register_wrapper` (e.g. ``residual_guidance``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from pydantic import Field
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecNormalize

from hlynr.config.base import StrictModel
from hlynr.registry import Registry



@dataclass(frozen=True)
class WrapContext:
    """What a wrapper may need to know about the run it is built for."""

    training: bool = True  # False for evaluation envs (e.g. frozen normalisation statistics)
    gamma: float = 0.99  # the algorithm's discount factor


EnvWrapFn = Callable[[gym.Env, Any, WrapContext], gym.Env]
VecWrapFn = Callable[[VecEnv, Any, WrapContext], VecEnv]


@dataclass(frozen=True)
class WrapperEntry:
    """How one named wrapper validates its parameters and wraps an env or a VecEnv."""

    name: str
    params: type[StrictModel]
    env: EnvWrapFn | None = None
    vec: VecWrapFn | None = None
    doc: str = ""

    def level_for(self, vectoriser: str) -> str:
        """``"env"`` or ``"vec"``: where this wrapper applies for the given vectoriser."""
        if vectoriser == "batched" or self.env is None:
            return "vec"
        return "env"


WRAPPERS: Registry[WrapperEntry] = Registry("wrapper")


def register_wrapper(
    name: str,
    params: type[StrictModel],
    *,
    env: EnvWrapFn | None = None,
    vec: VecWrapFn | None = None,
    doc: str = "",
) -> WrapperEntry:
    """Register a wrapper under ``name``; at least one of ``env`` / ``vec`` must be given."""
    if env is None and vec is None:
        raise ValueError(f"wrapper '{name}' needs an env-level or vec-level apply function")
    return WRAPPERS.register(name, WrapperEntry(name, params, env, vec, doc))


# --- built-in wrappers ---------------------------------------------------------------------


class FrameStackParams(StrictModel):
    """Stack the last ``n_stack`` observations (SB3 ``VecFrameStack``)."""

    n_stack: int = Field(4, ge=1, le=256)


class NormalizeParams(StrictModel):
    """Running mean/std normalisation of observations and/or rewards (SB3 ``VecNormalize``).

    Its statistics are saved with every checkpoint and best model and restored on resume and
    evaluation.
    """

    norm_obs: bool = True
    norm_reward: bool = True
    clip_obs: float = Field(10.0, gt=0)
    clip_reward: float = Field(10.0, gt=0)
    gamma: float | None = Field(None, gt=0, le=1, description="defaults to the algorithm's gamma")
    epsilon: float = Field(1e-8, gt=0)


class TimeLimitParams(StrictModel):
    """End (truncate) episodes after ``max_episode_steps`` steps."""

    max_episode_steps: int = Field(..., ge=1)


def _normalize(venv: VecEnv, p: NormalizeParams, ctx: WrapContext) -> VecEnv:
    return VecNormalize(
        venv, training=ctx.training, norm_obs=p.norm_obs,
        norm_reward=p.norm_reward and ctx.training, clip_obs=p.clip_obs,
        clip_reward=p.clip_reward, epsilon=p.epsilon,
        gamma=p.gamma if p.gamma is not None else ctx.gamma,
    )


register_wrapper(
    "frame_stack", FrameStackParams, vec=lambda venv, p, ctx: VecFrameStack(venv, n_stack=p.n_stack),
    doc=FrameStackParams.__doc__ or "",
)
register_wrapper("normalize", NormalizeParams, vec=_normalize, doc=NormalizeParams.__doc__ or "")
register_wrapper(
    "time_limit", TimeLimitParams,
    env=lambda env, p, ctx: gym.wrappers.TimeLimit(env, max_episode_steps=p.max_episode_steps),
    doc=TimeLimitParams.__doc__ or "",
)


class MaskObservationParams(StrictModel):
    """Keep only the listed indices of a flat Box observation (e.g. hide velocities)."""

    keep: list[int] = Field(..., min_length=1)


class MaskObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Keeps the entries ``keep`` of a flat Box observation (records its arguments, so
    ``gym.make(env.spec)`` rebuilds a wrapped env)."""

    def __init__(self, env: gym.Env, keep: list[int]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, keep=list(keep))
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError("mask_observation needs a flat Box observation space")
        bad = [i for i in keep if not -space.shape[0] <= i < space.shape[0]]
        if bad:
            raise ValueError(f"mask_observation: indices {bad} out of range for "
                             f"{space.shape[0]} observation entries")
        self.keep = list(keep)
        self.observation_space = gym.spaces.Box(space.low[self.keep], space.high[self.keep],
                                                dtype=space.dtype)

    def observation(self, observation: Any) -> Any:
        """The kept entries."""
        return observation[self.keep]


register_wrapper(
    "mask_observation", MaskObservationParams,
    env=lambda env, p, ctx: MaskObservation(env, p.keep),
    doc=MaskObservationParams.__doc__ or "",
)
