"""``SharedPolicyVecEnv``: SuperSuit parameter sharing as a correct SB3 ``VecEnv``.

Built over ``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1(..., base_class="gymnasium")``
(SuperSuit 3.11), each agent of each env copy is one row; rows of copy ``c`` are contiguous
(``c * rows_per_episode ...``). It fixes what SuperSuit's own SB3 wrapper gets wrong:

* **seeding**: ``seed(s)`` then ``reset()`` gives copy ``c`` the seed ``s + c`` with any
  ``num_cpus`` (SuperSuit's worker processes would give duplicate seeds), so ``PPO(seed=...)``
  and the evaluator's seeding contract work; an unseeded first reset still gives every copy a
  distinct seed drawn from NumPy's global generator (which SB3's ``set_random_seed`` seeds);
* **truncation**: when a copy's team episode ends on a time limit, every row gets
  ``info["TimeLimit.truncated"] = True`` (rows that are truncated and not terminated) and keeps
  ``terminal_observation``, so SB3 bootstraps; intercepts/escapes stay terminal;
* **done flag**: a row is done exactly when its copy's team episode ends (all rows together, in
  the step where it ends; no extra transition as with ``black_death_v3``);
* **team statistics**: at a team episode end the *first* row of the copy carries
  ``info["episode"] = {"r": team return, "l": length, "t": elapsed}``, ``is_success`` and the
  numeric end-of-episode values; they are stripped from the other rows, so everything that counts
  infos with ``"episode"`` (SB3's ``ep_info_buffer``, ``success_rate``, evaluators) counts team
  episodes. The team return sums ``info["team_reward"]`` of the first row when the env provides
  it, else the rows' rewards. Do not wrap this env in ``VecMonitor`` (it would count rows).
* ``env_method``/``get_attr``/``set_attr`` reach every copy (also in worker processes), e.g.
  ``env_method("apply_params", **params)`` for curricula.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from hlynr.multiagent.channel import CallError, CopyCall
from hlynr.multiagent.copies import CopySeeds, NoRendering

_KEEP_ON_ALL_ROWS = frozenset({"terminal_observation", "TimeLimit.truncated", "active"})
"""Per-row info keys (never merged into the team statistics of the first row)."""


def _is_scalar_number(v: Any) -> bool:
    return isinstance(v, (bool, int, float, np.number, np.bool_))


class SharedPolicyVecEnv(CopySeeds, NoRendering):
    """SB3 VecEnv over a SuperSuit concatenated vector of ``n_copies`` ParallelEnv copies."""

    def __init__(self, venv: Any, n_copies: int) -> None:
        """``venv``: ``concat_vec_envs_v1(CallableMarkovVectorEnv(env), n_copies, ...)``."""
        if venv.num_envs % n_copies:
            raise ValueError(f"{venv.num_envs} rows do not split into {n_copies} env copies")
        self.venv = venv
        self.n_copies = n_copies
        self.rows_per_episode = venv.num_envs // n_copies
        """Agent rows per env copy (rows of copy c are contiguous); one team episode spans them."""
        self.render_mode = None
        super().__init__(venv.num_envs, venv.observation_space, venv.action_space)
        self._tokens: list[str] = self._broadcast(CopyCall("identify"))
        if len(set(self._tokens)) != n_copies:
            raise RuntimeError("env copies did not answer with distinct tokens")
        self._ret = np.zeros(n_copies)
        self._len = np.zeros(n_copies, dtype=np.int64)
        self._t0 = time.time()
        self._actions: np.ndarray | None = None

    # --- channel --------------------------------------------------------------------------
    def _broadcast(self, call: CopyCall) -> list[Any]:
        """Send ``call`` to every copy; one answer per copy, in copy order; re-raise errors."""
        out = self.venv.env_is_wrapped(call)
        if len(out) != self.n_copies:
            raise RuntimeError(f"expected {self.n_copies} answers from env copies, got {len(out)}")
        for ans in out:
            if isinstance(ans, CallError):
                exc_type = {"ValueError": ValueError, "TypeError": TypeError,
                            "AttributeError": AttributeError, "KeyError": KeyError}.get(
                    ans.type_name, RuntimeError)
                raise exc_type(ans.message)
        return out

    def _call_rows(self, call: CopyCall, indices: VecEnvIndices) -> list[Any]:
        """Answer ``call`` per requested row (each row gets its copy's answer)."""
        rows = list(self._get_indices(indices))
        copies = sorted({int(r) // self.rows_per_episode for r in rows})
        if len(copies) < self.n_copies:
            call = CopyCall(call.kind, call.name, call.args, call.kwargs, call.payload,
                            frozenset(self._tokens[c] for c in copies))
        answers = self._broadcast(call)
        return [answers[int(r) // self.rows_per_episode] for r in rows]

    # --- VecEnv API -----------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        """Reset every copy (with the seeds set by :meth:`seed`, if any) and the statistics."""
        seeds = self._take_reset_seeds()
        if seeds is not None:
            self._broadcast(CopyCall("seed", payload=dict(zip(self._tokens, seeds))))
        opts = self._options[0] if self._options and self._options[0] else None
        obs, infos = self.venv.reset(options=opts)
        self.reset_infos = [dict(i) for i in infos]
        self._ret[:] = 0.0
        self._len[:] = 0
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Send one action per row."""
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Step every copy; fix done flags, truncation info and per-team-episode statistics."""
        obs, rews, terms, truncs, raw_infos = self.venv.step_wait()
        rews = np.asarray(rews, dtype=np.float32)
        terms = np.asarray(terms, dtype=bool)
        truncs = np.asarray(truncs, dtype=bool)
        infos = [dict(i) for i in raw_infos]  # SuperSuit may share one dict between empty rows
        n = self.rows_per_episode
        dones = np.zeros(self.num_envs, dtype=bool)
        for c in range(self.n_copies):
            r0, r1 = c * n, (c + 1) * n
            first = infos[r0]
            team_r = first.get("team_reward")
            self._ret[c] += float(team_r) if team_r is not None else float(rews[r0:r1].sum())
            self._len[c] += 1
            ended = terms[r0:r1] | truncs[r0:r1]
            if not ended.all():
                continue
            dones[r0:r1] = True
            stats: dict[str, Any] = {}
            for r in range(r1 - 1, r0 - 1, -1):  # first row's values win
                stats.update({k: v for k, v in infos[r].items()
                              if (k == "is_success" or _is_scalar_number(v)) and k not in _KEEP_ON_ALL_ROWS})
            for r in range(r0, r1):
                infos[r]["TimeLimit.truncated"] = bool(truncs[r] and not terms[r])
                if r > r0:
                    for k in [k for k in infos[r] if k in stats or k == "episode"]:
                        del infos[r][k]
            first.update(stats)
            first["episode"] = {
                "r": float(self._ret[c]), "l": int(self._len[c]),
                "t": round(time.time() - self._t0, 6),
            }
            self._ret[c] = 0.0
            self._len[c] = 0
        return obs, rews, dones, infos

    def close(self) -> None:
        """Close the SuperSuit vector env (and its worker processes)."""
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attribute of each row's ParallelEnv copy (``render_mode`` answered locally)."""
        if attr_name == "render_mode":
            return [self.render_mode for _ in self._get_indices(indices)]
        return self._call_rows(CopyCall("getattr", attr_name), indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on the ParallelEnv copies of the given rows."""
        self._call_rows(CopyCall("setattr", attr_name, (value,)), indices)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a ParallelEnv method once per copy of the given rows; one result per row."""
        return self._call_rows(CopyCall("method", method_name, method_args, method_kwargs), indices)

