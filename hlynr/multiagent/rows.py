"""``AgentRowsVecEnv``: a batched multi-agent engine as one SB3 VecEnv of agent rows.

Row ``c * R + i`` is agent slot ``i`` of env copy ``c`` (``R = engine.rows_per_copy``); one
policy acts for every row (parameter sharing). The semantics are those of
:class:`~hlynr.multiagent.vec_env.SharedPolicyVecEnv` (the SuperSuit path):

* ``seed(s)`` then ``reset()`` gives copy ``c`` the seed ``s + c``; an unseeded first reset
  draws distinct seeds;
* a row is done exactly when its copy's team episode ends (all rows together); finished copies
  are reset at once, every row keeps its ``terminal_observation`` and gets
  ``TimeLimit.truncated`` (true on a time-limit end only);
* at a team episode end the first row of the copy carries ``info["episode"]`` (team return =
  sum of the engine's team reward, length, time), ``is_success`` and the engine's end values,
  so episode counters count team episodes (do not wrap in ``VecMonitor``);
* every row's info has ``active``: False for a row without a live agent after the step (an
  inactive slot, a lost agent, an aircraft past its exit); cloning masks such rows out of its loss;
* :attr:`live` marks the rows whose current observation belongs to a live agent, and after each
  step :attr:`live_before` and :attr:`live_after` (:class:`~hlynr.registries.LiveRowsSource`)
  mark the rows that had a live agent when the step began and still have it at its end (a
  finished copy: in its terminal observation). They follow the engine's observations: a row
  is all zeros exactly when it has no live agent (:class:`~hlynr.multiagent.engine.RowsStep`),
  so they hold under any observation wrapper; hlynr's off-policy replay buffer of agent rows
  reads them;
* ``env_method("apply_params", **params)`` changes the selected copies from their next reset;
* with ``render_mode="rgb_array"`` and the frames of the env's renderer, ``get_images()``/``render()``
  draw copy ``render_copy`` (:class:`~hlynr.multiagent.copies.CopyRendering`).

Centralised critics: when the engine offers a global state, :meth:`critic_observations` returns
the critic rows of the current observations and finished rows carry
``info["terminal_critic_observation"]``; :attr:`critic_observation_space` is ``None`` otherwise.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from hlynr.multiagent.copies import CopyFrames, CopyRendering, CopySeeds
from hlynr.multiagent.engine import AgentRowsEngine
from hlynr.registries import CriticStateSource, LiveRowsSource


class AgentRowsVecEnv(CopySeeds, CopyRendering, CriticStateSource, LiveRowsSource):
    """SB3 VecEnv over an :class:`~hlynr.multiagent.engine.AgentRowsEngine` (see the module docstring)."""

    def __init__(self, engine: AgentRowsEngine, seed: int | None = None, render_mode: str | None = None,
                 frames: CopyFrames | None = None) -> None:
        self.engine = engine
        self.n_copies = engine.n_copies
        self.rows_per_episode = engine.rows_per_copy
        """Agent rows per env copy (rows of copy c are contiguous); one team episode spans them."""
        self.critic_observation_space = engine.critic_observation_space
        self.entity_layout = engine.entity_layout
        """The engine's observation layout (own block, entity slots), read by attention extractors."""
        self._init_rendering(render_mode, frames)
        super().__init__(engine.n_copies * engine.rows_per_copy, engine.observation_space,
                         engine.action_space)
        self._render_fps()
        self._ret = np.zeros(self.n_copies)
        self._len = np.zeros(self.n_copies, dtype=np.int64)
        self._t0 = time.time()
        self._actions: np.ndarray | None = None
        self._obs_shape = engine.observation_space.shape
        self._all = np.arange(self.n_copies)
        self.live = np.zeros(self.num_envs, dtype=bool)
        """Rows whose current observation belongs to a live agent."""
        self.live_before = np.zeros(self.num_envs, dtype=bool)
        self.live_after = np.zeros(self.num_envs, dtype=bool)
        if seed is not None:
            self.seed(seed)

    # --- VecEnv API -----------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        """Reset every copy (with the seeds set by :meth:`seed`, if any) and the statistics."""
        seeds = self._take_reset_seeds()
        if seeds is not None:
            self.engine.seed(self._all, seeds)
        obs = self.engine.reset(self._all)
        self._ret[:] = 0.0
        self._len[:] = 0
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._render_reset()
        rows = obs.reshape(self.num_envs, *self._obs_shape).copy()
        self.live = self._has_agent(rows)
        self.live_before = np.zeros(self.num_envs, dtype=bool)
        self.live_after = np.zeros(self.num_envs, dtype=bool)
        return rows

    def step_async(self, actions: np.ndarray) -> None:
        """Store one action per row."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Step every copy; reset finished copies; team statistics on their first rows."""
        assert self._actions is not None, "step_async must be called first"
        eng, n = self.engine, self.rows_per_episode
        res = eng.step(self._actions.reshape(self.n_copies, n, *self._actions.shape[1:]))
        self._actions = None
        self._ret += res.team_reward
        self._len += 1
        ended = res.terminated | res.truncated
        obs = res.obs.reshape(self.num_envs, *self._obs_shape).copy()
        self.live_before, self.live_after = self.live, self._has_agent(obs)
        live = self.live_after.copy()
        infos: list[dict[str, Any]] = [
            {"active": a} for a in np.asarray(res.active, dtype=bool).reshape(-1).tolist()]
        done_copies = np.flatnonzero(ended)
        if done_copies.size:
            final_obs = obs.reshape(self.n_copies, n, *self._obs_shape)[done_copies].copy()
            critic = (eng.critic_observations(done_copies)
                      if self.critic_observation_space is not None else None)
            stats = res.stats[done_copies].tolist()
            trunc = (res.truncated & ~res.terminated)[done_copies].tolist()
            for j, c in enumerate(done_copies.tolist()):
                for i in range(n):
                    info = infos[c * n + i]
                    info["TimeLimit.truncated"] = trunc[j]
                    info["terminal_observation"] = final_obs[j, i]
                    if critic is not None:
                        info["terminal_critic_observation"] = critic[j, i]
                first = infos[c * n]
                first.update(zip(eng.end_keys, stats[j]))
                if "is_success" in first:
                    first["is_success"] = bool(first["is_success"])
                first["episode"] = {"r": float(self._ret[c]), "l": int(self._len[c]),
                                    "t": round(time.time() - self._t0, 6)}
            self._ret[done_copies] = 0.0
            self._len[done_copies] = 0
            self._render_before_reset(done_copies)
            new = eng.reset(done_copies)
            obs.reshape(self.n_copies, n, *self._obs_shape)[done_copies] = new
            live.reshape(self.n_copies, n)[done_copies] = self._has_agent(new)
        self.live = live
        self._render_after_step()
        dones = np.repeat(ended, n)
        return obs, res.reward.reshape(-1).copy(), dones, infos

    def _has_agent(self, rows: np.ndarray) -> np.ndarray:
        """Which observation rows (``(..., *obs)``) belong to a live agent: any entry not zero."""
        n = len(self._obs_shape)
        return np.any(rows != 0, axis=tuple(range(rows.ndim - n, rows.ndim)))

    def critic_observations(self) -> np.ndarray:
        """Critic rows (num_envs, *critic) of the current observations (centralised critics)."""
        if self.critic_observation_space is None:
            raise AttributeError("this env publishes no global state for a centralised critic")
        rows = self.engine.critic_observations()
        return rows.reshape(self.num_envs, *self.critic_observation_space.shape)

    def close(self) -> None:
        """Release the engine (closes worker processes if it has any)."""
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()

    def _copies(self, indices: VecEnvIndices) -> np.ndarray:
        rows = list(self._get_indices(indices))
        return np.array(sorted({int(r) // self.rows_per_episode for r in rows}), dtype=int)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``params`` gives each row's copy parameters; other names are read from this VecEnv."""
        rows = list(self._get_indices(indices))
        if attr_name == "params":
            copies = self._copies(indices)
            models = dict(zip(copies.tolist(), self.engine.models(copies)))
            return [models[r // self.rows_per_episode] for r in rows]
        return [getattr(self, attr_name) for _ in rows]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Attributes are not per-row here; use ``env_method("apply_params", ...)``."""
        raise AttributeError(f"{type(self).__name__} cannot set '{attr_name}'; "
                             "use env_method('apply_params', ...)")

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """``apply_params(**params)`` on the copies of the selected rows (validated, all or none)."""
        if method_name != "apply_params":
            raise AttributeError(f"{type(self).__name__} has no env method '{method_name}' "
                                 "(known: apply_params)")
        if method_args:
            raise TypeError("apply_params takes keyword arguments only")
        copies = self._copies(indices)
        self.engine.check_params(copies, method_kwargs)
        self.engine.apply_params(copies, method_kwargs)
        return [None for _ in self._get_indices(indices)]
