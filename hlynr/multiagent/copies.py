"""What the VecEnvs of env copies x agent rows share: per-copy seeding (copy ``c`` gets
``seed + c``), the frames of one copy for ``get_images()``/``render()``, and the parts of SB3's
VecEnv interface they do not support (wrappers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

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



class CopyFrames(Protocol):
    """The frames of one env copy (:class:`hlynr.envs.rendering.CopyFrames`, made by the env's
    package: this layer draws nothing itself)."""

    copy: int

    @property
    def started(self) -> bool: ...

    def fps(self, engine: Any) -> float: ...

    def select(self, engine: Any, copy: int, started: bool = True) -> None: ...

    def reset(self, engine: Any) -> None: ...

    def before_reset(self, engine: Any, done: list[int]) -> None: ...

    def after_step(self, engine: Any) -> None: ...

    def image(self) -> np.ndarray | None: ...


class CopyRendering(NoRendering):
    """A VecEnv of env copies that draws one copy, :attr:`render_copy` (default 0).

    With ``render_mode="rgb_array"`` and the env's :class:`CopyFrames`, :meth:`get_images`
    returns one frame, of that copy's current step, so ``render()`` and SB3's
    ``VecVideoRecorder`` show it; in the step where its episode ends the frame shows its final
    state, before the copy is reset. Without a render mode nothing is drawn or kept. The VecEnv
    sets ``engine`` and calls :meth:`_init_rendering` before ``VecEnv.__init__``, then
    :meth:`_render_reset`, :meth:`_render_before_reset` and :meth:`_render_after_step` around its
    resets and steps.
    """

    engine: Any
    _frames: CopyFrames | None = None
    _watchers: tuple[Any, ...] = ()

    def _init_rendering(self, render_mode: str | None, frames: CopyFrames | None) -> None:
        self.render_mode = render_mode
        if render_mode is not None and frames is None:
            raise ValueError(f"render_mode={render_mode!r} needs the frames of the env's renderer "
                             "(see hlynr.envs.rendering.vec_rendering)")
        self._frames = frames

    def _render_fps(self) -> None:
        """Put ``render_fps`` into ``metadata`` (after ``VecEnv.__init__`` wrote it)."""
        if self._frames is not None:
            cast(dict[str, Any], self.metadata)["render_fps"] = self._frames.fps(self._drawn_engine()[0])

    def _drawn_engine(self) -> tuple[Any, int]:
        """The engine holding the copies stepped in this process, and how many there are (the
        first share of a sharded engine)."""
        local = getattr(self.engine, "local_engine", None)
        eng = local() if callable(local) else self.engine
        return eng, int(eng.n_copies)

    @property
    def render_copy(self) -> int:
        """The env copy whose frames :meth:`get_images` draws (default 0); a copy stepped in this
        process (every copy with one worker, the first share otherwise). Setting it starts
        drawing that copy from its current step."""
        return 0 if self._frames is None else self._frames.copy

    @render_copy.setter
    def render_copy(self, copy: int) -> None:
        eng, n = self._drawn_engine()
        if not 0 <= copy < n:
            raise ValueError(f"render_copy must be a copy stepped in this process, 0..{n - 1}; got {copy}")
        if self._frames is None:
            raise AttributeError(f"this {type(self).__name__} was built without render_mode='rgb_array'")
        self._frames.select(eng, copy, started=self._frames.started)

    def watch_copies(self, watcher: Any) -> None:
        """Tell ``watcher`` (a :class:`~hlynr.envs.rendering.CopySnapshots`, made by the env's
        package) about every copy's resets and steps from now on: ``reset(engine)``,
        ``before_reset(engine, done)`` and ``after_step(engine)``. Every copy must be stepped in
        this process (one worker)."""
        if self._drawn_engine()[1] != int(self.engine.n_copies):
            raise ValueError("watch_copies needs every copy stepped in this process (workers=1)")
        self._watchers = (*self._watchers, watcher)

    def _render_reset(self) -> None:
        if self._frames is not None:
            self._frames.reset(self._drawn_engine()[0])
        for w in self._watchers:
            w.reset(self.engine)

    def _render_before_reset(self, done_copies: np.ndarray) -> None:
        if self._frames is not None:
            self._frames.before_reset(self._drawn_engine()[0], done_copies.tolist())
        for w in self._watchers:
            w.before_reset(self.engine, done_copies.tolist())

    def _render_after_step(self) -> None:
        if self._frames is not None:
            self._frames.after_step(self._drawn_engine()[0])
        for w in self._watchers:
            w.after_step(self.engine)

    def get_images(self) -> Sequence[np.ndarray | None]:
        """With ``render_mode="rgb_array"``: ``[frame]``, the current step of copy
        :attr:`render_copy` (one image, not one per row). Otherwise ``None`` per row."""
        if self._frames is None:
            return [None for _ in range(self.num_envs)]
        return [self._frames.image()]

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """The frame of :attr:`render_copy` (``None`` without ``render_mode="rgb_array"``)."""
        return VecEnv.render(self, mode) if self._frames is not None else None
