"""``BatchedInterceptVecEnv``: one SB3 VecEnv stepping N Intercept envs as NumPy arrays.

It drives the same :class:`~hlynr.envs.intercept.core.InterceptCore` as the single env, so env
``i`` seeded with ``s + i`` follows exactly the trajectory of ``InterceptEnv`` reset with seed
``s + i`` under the same actions (tested). Done envs are reset automatically, with the final
observation in ``info["terminal_observation"]`` and ``info["TimeLimit.truncated"]`` set on
time-limit ends, as SB3 expects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from hlynr.envs.intercept.core import InterceptCore, SensorSettings
from hlynr.envs.intercept.env import action_space, observation_space
from hlynr.envs.intercept.params import InterceptParams


class BatchedInterceptVecEnv(VecEnv):
    """``n_envs`` Intercept engagements as one vectorised environment."""

    def __init__(self, n_envs: int, seed: int | None = None, **env_kwargs: Any) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.params = InterceptParams(**env_kwargs)
        self.core = InterceptCore(n_envs, self.params)
        self.render_mode = None
        super().__init__(n_envs, observation_space(), action_space())
        self._actions: np.ndarray | None = None
        self._empty_infos: list[dict[str, Any]] = [{} for _ in range(n_envs)]
        if seed is not None:
            self.seed(seed)

    # ---------------------------------------------------------------- VecEnv API
    def reset(self) -> np.ndarray:
        """Reset all envs (using seeds given to :meth:`seed`, env i gets seed + i)."""
        idx = np.arange(self.num_envs)
        if any(s is not None for s in self._seeds):
            self.core.seed_idx(idx, [int(s) for s in self._seeds])  # type: ignore[arg-type]
        elif (self.core.episode < 0).any():
            fresh = np.random.SeedSequence().generate_state(self.num_envs, dtype=np.uint64)
            self.core.seed_idx(idx, [int(s) for s in fresh])
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self.core.reset_idx(idx)

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions (n_envs, 2) for :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step every env, auto-resetting the finished ones."""
        assert self._actions is not None, "step_async must be called first"
        core = self.core
        _, reward, term, trunc, reason = core.step(self._actions, observe=False)
        dones = term | trunc
        if any(self._empty_infos):  # a consumer wrote into a handed-out empty info: renew the pool
            self._empty_infos = [{} for _ in range(self.num_envs)]
        infos: list[dict[str, Any]] = list(self._empty_infos)
        done_idx = np.flatnonzero(dones)
        if done_idx.size:
            # final states of the finished envs, observed together with everyone's new state
            final = core.observation_inputs(done_idx)
            for i in done_idx.tolist():
                info = core.final_info(i, int(reason[i]))
                info["TimeLimit.truncated"] = bool(trunc[i])
                infos[i] = info
            core.restart_idx(done_idx)
            obs, final_obs = core.observe_after_reset(final)
            for j, i in enumerate(done_idx.tolist()):
                infos[i]["terminal_observation"] = final_obs[j]
        else:
            obs = core.observe()
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        """Nothing to release."""

    def set_sensor(self, sensor: SensorSettings) -> None:
        """Install the observation pipeline (used by the ``radar_kalman`` vec wrapper)."""
        self.core.set_sensor(sensor)

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-env attribute values (``params`` gives each env's parameter model)."""
        idx = self._indices(indices)
        if attr_name == "params":
            return [self.core.models[i] for i in idx]
        return [getattr(self, attr_name) for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Attributes are not per-env here; use ``env_method("apply_params", ...)``."""
        raise AttributeError(
            f"BatchedInterceptVecEnv cannot set '{attr_name}'; use env_method('apply_params', ...)"
        )

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Supports ``apply_params(**params)`` on the selected envs (validated, from next reset)."""
        idx = self._indices(indices)
        if method_name == "apply_params":
            if method_args:
                raise TypeError("apply_params takes keyword arguments only")
            self.core.apply_params(np.array(idx, dtype=int), **method_kwargs)
            return [None for _ in idx]
        raise AttributeError(f"BatchedInterceptVecEnv has no env method '{method_name}' (known: apply_params)")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No gymnasium wrappers exist inside the batched env."""
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No rendering."""
        return [None for _ in range(self.num_envs)]


def make_batched(n_envs: int, seed: int | None = None, **env_kwargs: Any) -> BatchedInterceptVecEnv:
    """``BATCHED_ENVS`` factory: ``(n_envs, seed, **env_kwargs) -> VecEnv``."""
    return BatchedInterceptVecEnv(n_envs, seed, **env_kwargs)


__all__: Iterable[str] = ["BatchedInterceptVecEnv", "make_batched"]
