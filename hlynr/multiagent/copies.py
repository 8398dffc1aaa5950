"""What the VecEnvs of env copies x agent rows share: per-copy seeding (copy ``c`` gets
``seed + c``) and the parts of SB3's VecEnv interface they do not support (rendering, wrappers)."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices


class CopySeeds:
    """``seed()`` and the seeds of the next ``reset()`` for a VecEnv of env copies x agent rows.

    The VecEnv sets ``n_copies``, ``rows_per_episode`` and ``num_envs``. Without a seed, the
    first reset still seeds every copy (from fresh randomness) so copies never share a stream.
    """

    n_copies: int
    rows_per_episode: int
    num_envs: int
    _copy_seeds: list[int] | None = None
    _ever_reset: bool = False

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Copy ``c`` gets ``seed + c`` at the next ``reset()``; returns the seed of every row."""
        if seed is None:
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))
        self._copy_seeds = [int(seed) + c for c in range(self.n_copies)]
        return [self._copy_seeds[r // self.rows_per_episode] for r in range(self.num_envs)]

    def _take_reset_seeds(self) -> list[int] | None:
        """The per-copy seeds this reset applies (None: keep the copies' own streams)."""
        seeds = self._copy_seeds
        if seeds is None and not self._ever_reset:
            base = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))
            seeds = [base + c for c in range(self.n_copies)]
        self._copy_seeds, self._ever_reset = None, True
        return seeds


class NoRendering(VecEnv):
    """A VecEnv whose env copies have no rendering and no Gymnasium wrappers."""

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No Gymnasium wrappers exist inside the copies."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No rendering."""
        return [None for _ in range(self.num_envs)]

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """No rendering."""
        return None

