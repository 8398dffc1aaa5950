"""``BatchedInterceptVecEnv``: one SB3 VecEnv stepping N Intercept envs as NumPy arrays.

It drives the same :class:`~hlynr.envs.intercept.core.InterceptCore` as the single env, so env
``i`` seeded with ``s + i`` follows exactly the trajectory of ``InterceptEnv`` reset with seed
``s + i`` under the same actions (tested). Done envs are reset automatically, with the final
observation in ``info["terminal_observation"]`` and ``info["TimeLimit.truncated"]`` set on
time-limit ends, as SB3 expects.

``workers = k > 1`` splits the envs into ``k`` contiguous shares: this process steps the first
one and ``k - 1`` worker processes (:mod:`hlynr.envs.intercept.workers`) step the others, all
in parallel, each as one batch; results meet in shared memory. Every env computes exactly the
numbers it computes with ``workers = 1`` (each env's randomness depends only on its own seed).

Privileged critic state (a :class:`~hlynr.registries.CriticStateSource`): every row has a critic
row (:mod:`hlynr.envs.intercept.critic`: the true engagement, then the actor's observation) in
``critic_observation_space``. It costs nothing until a critic first calls
:meth:`~BatchedInterceptVecEnv.critic_observations`; from then on every step also computes the
truth blocks (in each worker for its share) and finished envs carry
``info["terminal_critic_observation"]``. Observations, rewards and trajectories are the same
either way.

Privileged teacher view (a :class:`~hlynr.registries.PrivilegedObservationSource`):
:meth:`~BatchedInterceptVecEnv.privileged_observations` gives every row the observation the
truth sensor would produce at its current state (computed on request, in each worker for its
share), and :meth:`~BatchedInterceptVecEnv.privileged_to_own_actions` carries actions chosen on
it into each row's own action frame (:mod:`hlynr.envs.intercept.privileged`). Nothing else
changes.

Rendering: with ``render_mode="rgb_array"``, :meth:`~BatchedInterceptVecEnv.get_images` returns one
frame, of env :attr:`~BatchedInterceptVecEnv.render_copy` (default 0), so ``render()`` and SB3's
``VecVideoRecorder`` show that engagement (:mod:`hlynr.envs.intercept.render`); the step where
its episode ends shows its final state (closest approach, miss distance) before the next episode
starts. Without a render mode nothing is drawn or kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from hlynr.envs.intercept.core import InterceptCore
from hlynr.envs.intercept.critic import critic_space
from hlynr.envs.intercept.env import action_space, observation_space
from hlynr.envs.intercept.params import InterceptParams
from hlynr.envs.intercept.privileged import PRIVILEGED_ENV_OVERRIDES, to_own_frame
from hlynr.envs.intercept.shard import Shard, StepBuffers, done_infos
from hlynr.envs.intercept.workers import WorkerPool, context, shared_block
from hlynr.envs.rendering import CopyFrames, check_render_mode, draws
from hlynr.multiagent.workers import share_bounds
from hlynr.registries import CriticStateSource, PrivilegedObservationSource


class BatchedInterceptVecEnv(VecEnv, CriticStateSource, PrivilegedObservationSource):
    """``n_envs`` Intercept engagements as one vectorised environment.

    :param workers: processes stepping the envs: 1 (default) steps all of them in this process;
        ``k > 1`` steps the first share here and the others in ``k - 1`` worker processes
        (capped at ``n_envs``). Call :meth:`close` when done (workers also exit with this process).
    :param start_method: how worker processes start: ``forkserver`` (default), ``spawn`` or
        ``fork`` (see :mod:`hlynr.envs.intercept.workers` for why not ``fork``).
    :param render_mode: ``"rgb_array"`` to draw env :attr:`render_copy` in :meth:`get_images`.
    """

    def __init__(self, n_envs: int, seed: int | None = None, workers: int = 1,
                 start_method: str = "forkserver", render_mode: str | None = None,
                 **env_kwargs: Any) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.params = InterceptParams(**env_kwargs)
        self.workers = min(workers, n_envs)
        bounds = share_bounds(n_envs, self.workers)
        self._pool: WorkerPool | None = None
        if self.workers == 1:
            self._buf = StepBuffers.view(None, n_envs)
        else:
            ctx = context(start_method)
            block = shared_block(ctx, StepBuffers.nbytes(n_envs))
            self._buf = StepBuffers.view(block, n_envs)
            self._pool = WorkerPool(ctx, block, n_envs, bounds[1:], self.params)
        self._bounds = bounds
        self.core = InterceptCore(bounds[0][1], self.params)
        """The engine of the envs stepped in this process (all of them when ``workers == 1``)."""
        self._local = Shard(self.core, self._buf.rows(*bounds[0]), publish_obs=False)
        self._started = False
        self.render_mode = check_render_mode(render_mode, "BatchedInterceptVecEnv")
        self._frames: CopyFrames[Any, Any, Any] | None = None
        if draws(self.render_mode):
            from hlynr.envs.intercept.render import RENDERER

            self._frames = CopyFrames(RENDERER)
            self._local.on_finish = self._render_finished
        self._watchers: list[Any] = []
        self.critic_observation_space = critic_space()
        """The Box of one privileged critic row (see :mod:`hlynr.envs.intercept.critic`)."""
        self._critic_on = False
        self._last_obs: np.ndarray | None = None
        self.privileged_observation_space = observation_space()
        """The Box of one privileged (truth sensor) observation: the observation's own layout."""
        self.privileged_env_overrides = PRIVILEGED_ENV_OVERRIDES
        self._rotation: np.ndarray | None = None
        """Rotations of the last privileged view into the own frames (None once stepped)."""
        super().__init__(n_envs, observation_space(), action_space())
        cast(dict[str, Any], self.metadata)["render_fps"] = 1.0 / self.core.dt
        self._stepping = False
        self._empty_infos: list[dict[str, Any]] = [{} for _ in range(n_envs)]
        if seed is not None:
            self.seed(seed)

    # ---------------------------------------------------------------- VecEnv API
    def reset(self) -> np.ndarray:
        """Reset all envs (using seeds given to :meth:`seed`, env i gets seed + i)."""
        seeds: list[int] | None = None
        if any(s is not None for s in self._seeds):
            # SB3's seed() sets every entry (and resets clear them all), so none is None here.
            seeds = [int(s) for s in self._seeds]  # type: ignore[arg-type]
        elif not self._started:
            seeds = [int(s) for s in np.random.SeedSequence().generate_state(self.num_envs, dtype=np.uint64)]
        self._call("reset", [(None if seeds is None else seeds[lo:hi],) for lo, hi in self._bounds])
        self._started = True
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        obs = self._buf.obs.copy()
        self._last_obs = obs.copy() if self._critic_on else obs
        self._rotation = None
        if self._frames is not None:
            self._frames.reset(self.core)
        for w in self._watchers:
            w.reset(self.core)
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions (n_envs, 2) and start the worker processes' step."""
        np.copyto(self._buf.actions, np.asarray(actions).reshape(self.num_envs, 2))
        if self._pool is not None:
            self._pool.step_async()
        self._stepping = True

    def step_wait(self) -> VecEnvStepReturn:
        """Step every env, auto-resetting the finished ones."""
        assert self._stepping, "step_async must be called first"
        self._stepping = False
        local_obs = self._local.step()
        buf = self._buf
        if self._pool is None:
            obs = local_obs  # a fresh array
        else:
            self._pool.step_wait()
            obs = np.empty_like(buf.obs)
            obs[:len(local_obs)] = local_obs
            obs[len(local_obs):] = buf.obs[len(local_obs):]
        dones = buf.done.copy()
        if any(self._empty_infos):  # a consumer wrote into a handed-out empty info: renew the pool
            self._empty_infos = [{} for _ in range(self.num_envs)]
        infos: list[dict[str, Any]] = list(self._empty_infos)
        done_idx = np.flatnonzero(dones)
        if done_idx.size:
            done_infos(buf, infos, done_idx.tolist(), critic=self._critic_on)
        self._last_obs = obs.copy() if self._critic_on else obs
        self._rotation = None
        if self._frames is not None:
            self._frames.after_step(self.core)
        for w in self._watchers:
            w.after_step(self.core)
        return obs, buf.reward.copy(), dones, infos

    def critic_observations(self) -> np.ndarray:
        """Privileged critic rows ``(n_envs, CRITIC_DIM)`` of the current observations: the truth
        blocks, then the observations. The first call switches the critic state on."""
        if self._last_obs is None:
            raise RuntimeError("reset the env before asking for critic observations")
        if not self._critic_on:
            self._call("enable_critic", [() for _ in self._bounds])
            self._critic_on = True
            self._last_obs = self._last_obs.copy()
        return np.concatenate([self._buf.truth, self._last_obs], axis=1)

    def privileged_observations(self) -> np.ndarray:
        """The observations ``(n_envs, OBS_DIM)`` the truth sensor would give at the current
        states (a teacher's view; the agent's observations are unchanged). Remembers each row's
        truth frame for :meth:`privileged_to_own_actions`."""
        if self._last_obs is None:
            raise RuntimeError("reset the env before asking for privileged observations")
        views = self._call("truth_view", [() for _ in self._bounds])
        self._rotation = np.concatenate([rot for _, rot in views])
        return np.concatenate([obs for obs, _ in views])

    def privileged_to_own_actions(self, actions: np.ndarray) -> np.ndarray:
        """Actions ``(n_envs, 2)`` chosen on the last :meth:`privileged_observations` as the actions
        commanding the same world-frame lateral acceleration from each row's own observation."""
        if self._rotation is None:
            raise RuntimeError("privileged_to_own_actions needs privileged_observations() of the "
                               "current step (the env was reset or stepped since)")
        return to_own_frame(np.asarray(actions).reshape(self.num_envs, 2), self._rotation)

    def close(self) -> None:
        """Stop the worker processes, if any (idempotent)."""
        if self._pool is not None:
            self._pool.close()

    def _call(self, name: str, args: list[tuple[Any, ...] | None]) -> list[Any]:
        """Run ``Shard.<name>(*args[k])`` on every share ``k`` whose ``args[k]`` is not ``None``
        (share 0 in this process, concurrently with the workers); results by share."""
        remote = {k - 1: a for k, a in enumerate(args) if k > 0 and a is not None}
        if self._pool is not None and remote:
            self._pool.send(name, remote)
        try:
            local = None if args[0] is None else getattr(self._local, name)(*args[0])
        finally:
            got = self._pool.collect(list(remote), name) if self._pool is not None and remote else []
        by_worker = dict(zip(remote, got))
        return [local] + [by_worker.get(k) for k in range(len(self._bounds) - 1)]

    def _split(self, idx: list[int]) -> list[list[int] | None]:
        """Env indices ``idx`` as local indices of each share (``None``: no env of that share)."""
        out: list[list[int] | None] = []
        for lo, hi in self._bounds:
            local = [i - lo for i in idx if lo <= i < hi]
            out.append(local or None)
        return out

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return [int(i) for i in indices]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-env attribute values (``params`` gives each env's parameter model)."""
        idx = self._indices(indices)
        if attr_name == "params":
            parts = self._split(idx)
            found = self._call("models", [None if p is None else (p,) for p in parts])
            models: dict[int, Any] = {}
            for (lo, _), local, got in zip(self._bounds, parts, found):
                if local is not None:
                    models.update({lo + j: m for j, m in zip(local, got)})
            return [models[i] for i in idx]
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
            args = [None if p is None else (p, method_kwargs) for p in self._split(idx)]
            self._call("check_params", args)  # every env accepts the change, or none applies it
            self._call("apply_params", args)
            return [None for _ in idx]
        raise AttributeError(f"BatchedInterceptVecEnv has no env method '{method_name}' (known: apply_params)")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No gymnasium wrappers exist inside the batched env."""
        return [False for _ in self._indices(indices)]

    # ---------------------------------------------------------------- rendering
    @property
    def render_copy(self) -> int:
        """The env whose frames :meth:`get_images` draws (default 0); one stepped in this process
        (``0 <= render_copy < core.n``: every env with ``workers == 1``, the first share otherwise).
        Setting it starts drawing that env from its current step."""
        return 0 if self._frames is None else self._frames.copy

    @render_copy.setter
    def render_copy(self, copy: int) -> None:
        if not 0 <= copy < self.core.n:
            raise ValueError(f"render_copy must be an env stepped in this process, 0..{self.core.n - 1}; "
                             f"got {copy}")
        if self._frames is None:
            raise AttributeError("this VecEnv was built without render_mode='rgb_array'")
        self._frames.select(self.core, copy, started=self._started)

    def _render_finished(self, done_idx: np.ndarray, reason: np.ndarray) -> None:
        if self._frames is not None:
            self._frames.before_reset(self.core, done_idx.tolist(),
                                      reason=int(reason[self._frames.copy]))
        for w in self._watchers:
            w.before_reset(self.core, done_idx.tolist(), reason=reason)

    def watch_copies(self, watcher: Any) -> None:
        """Tell ``watcher`` (a :class:`~hlynr.envs.rendering.CopySnapshots`) about every env's
        resets and steps from now on: ``reset(core)``, ``before_reset(core, done, reason=codes)``
        (every env's termination code) and ``after_step(core)``. Every env must be stepped in
        this process (``workers == 1``)."""
        if self._pool is not None:
            raise ValueError("watch_copies needs every env stepped in this process (workers=1)")
        self._watchers.append(watcher)
        self._local.on_finish = self._render_finished

    def get_images(self) -> Sequence[np.ndarray | None]:
        """With ``render_mode="rgb_array"``: ``[frame]``, the current step of env
        :attr:`render_copy` (one image, not one per env: drawing every env would cost ``n_envs``
        frames per step). Otherwise ``None`` per env."""
        if self._frames is None:
            return [None for _ in range(self.num_envs)]
        return [self._frames.image()]


def make_batched(n_envs: int, seed: int | None = None, workers: int = 1, **env_kwargs: Any
                 ) -> BatchedInterceptVecEnv:
    """``BATCHED_ENVS`` factory: ``(n_envs, seed, workers, **env_kwargs) -> VecEnv``."""
    return BatchedInterceptVecEnv(n_envs, seed, workers=workers, **env_kwargs)


__all__ = ["BatchedInterceptVecEnv", "make_batched"]
