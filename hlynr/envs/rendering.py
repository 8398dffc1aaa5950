"""How envs render: the render modes, the snapshots of the episode being drawn, and renderers.

Each env package declares a *renderer* (its ``render`` module): a pure function
``draw_frame(steps, scene, size)`` from the snapshots of one episode up to the step drawn
(``steps[-1]``; the earlier ones draw the paths) and the episode's static scene to an
``(H, W, 3)`` uint8 image, plus ``snapshot(engine, copy)`` and ``scene(engine, copy)``, which
read what a frame needs from an engine by name. The primitives are in :mod:`hlynr.envs.drawing`.

An env built without a ``render_mode`` pays nothing: it imports no drawing code (this module
does not import Pillow), keeps no snapshots and draws nothing.
"""

from __future__ import annotations

import importlib
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

Size = tuple[int, int]
"""Frame size ``(width, height)`` in pixels."""

DEFAULT_SIZE: Size = (640, 480)
RENDER_MODES: list[str] = ["rgb_array"]
"""The render modes every hlynr env supports."""

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")


# ------------------------------------------------------------------ render modes
def check_render_mode(render_mode: str | None, env_name: str) -> str | None:
    """``render_mode`` as given; a mode other than ``None``/``"rgb_array"`` warns (the env then
    draws nothing and :meth:`render` returns ``None``), as Gymnasium does for unknown modes."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        warnings.warn(f"{env_name} supports render_mode {RENDER_MODES} or None, not {render_mode!r}; "
                      "render() will return None", stacklevel=3)
    return render_mode


def draws(render_mode: str | None) -> bool:
    """Whether an env in ``render_mode`` keeps snapshots and draws frames."""
    return render_mode == "rgb_array"


def vec_rendering(render_mode: str | None, module: str, env_name: str) -> dict[str, Any]:
    """Keyword arguments ``render_mode`` and ``frames`` of a VecEnv of env copies: the frames of
    one copy drawn by the ``RENDERER`` of ``module`` (imported only when ``render_mode`` draws)."""
    render_mode = check_render_mode(render_mode, env_name)
    frames = CopyFrames(importlib.import_module(module).RENDERER) if draws(render_mode) else None
    return {"render_mode": render_mode, "frames": frames}


# ------------------------------------------------------------------ steps drawn
class Episode(Generic[S, C]):
    """The snapshots of the episode being drawn, and its scene (kept only while rendering).

    ``steps`` ends with the step drawn. After :meth:`finish` (an episode ended and the env was
    reset at once, as a VecEnv does) the last frame of the old episode stays drawn until the next
    :meth:`append`, which starts the new episode from its first snapshot.
    ``max_steps`` bounds the memory: older snapshots of a longer episode are dropped (their
    paths vanish), the first one is kept.
    """

    def __init__(self, max_steps: int = 5000) -> None:
        self.max_steps = max_steps
        self.steps: deque[S] = deque(maxlen=max_steps)
        self.scene: C | None = None
        self._next: tuple[S, C] | None = None

    def start(self, first: S, scene: C) -> None:
        """A new episode: its first snapshot and scene."""
        self.steps = deque([first], maxlen=self.max_steps)
        self.scene = scene
        self._next = None

    def append(self, snap: S) -> None:
        """The snapshot after a step (of the episode started last)."""
        if self._next is not None:
            self.start(*self._next)
        self.steps.append(snap)

    def finish(self, final: S, first: S, scene: C) -> None:
        """The episode ended in ``final`` and the next one starts at ``first`` with ``scene``."""
        if self._next is not None:  # an episode that ended at its first step
            self.start(*self._next)
        self.steps.append(final)
        self._next = (first, scene)

    def draw(self, draw_frame: Callable[[Sequence[S], C, Size], np.ndarray], size: Size) -> np.ndarray | None:
        """The frame of the step drawn (``None`` before the first episode started)."""
        if not self.steps or self.scene is None:
            return None
        return draw_frame(list(self.steps), self.scene, size)


@dataclass(frozen=True)
class Renderer(Generic[E, S, C]):
    """How one env copy of a batched engine ``E`` is drawn (declared by each env package)."""

    snapshot: Callable[..., S]
    """``snapshot(engine, copy, **extra)``: the state of ``copy`` a frame needs, read by name
    (``extra``: what the engine does not keep, e.g. the termination code of a finished copy)."""
    scene: Callable[[E, int], C]
    """``scene(engine, copy)``: the static data of the episode ``copy`` is in."""
    draw: Callable[[Sequence[S], C, Size], np.ndarray]
    """``draw(steps, scene, size)``: the frame of ``steps[-1]``."""
    fps: Callable[[E], float]
    """``fps(engine)``: frames per second of a video (``metadata["render_fps"]``)."""


class CopyFrames(Generic[E, S, C]):
    """The frames of one env copy of a batched VecEnv, for ``get_images()``.

    The VecEnv calls :meth:`reset` after resetting every copy, :meth:`before_reset` with the
    copies that finished a step (before it resets them) and :meth:`after_step` once the step
    and the resets are done; :meth:`image` draws the copy's current step (the final step of its
    episode right after it ended).
    """

    def __init__(self, renderer: Renderer[E, S, C], size: Size = DEFAULT_SIZE, copy: int = 0) -> None:
        self.renderer = renderer
        self.size = size
        self.copy = copy
        self.episode: Episode[S, C] = Episode()
        self._final: S | None = None

    def reset(self, engine: E) -> None:
        """Every copy was reset: the drawn copy starts a new episode."""
        r = self.renderer
        self.episode.start(r.snapshot(engine, self.copy), r.scene(engine, self.copy))
        self._final = None

    @property
    def started(self) -> bool:
        """Whether a first episode has started (the engine was reset)."""
        return self.episode.scene is not None

    def fps(self, engine: E) -> float:
        """Frames per second of a video of ``engine`` (the renderer's ``render_fps``)."""
        return self.renderer.fps(engine)

    def select(self, engine: E, copy: int, started: bool = True) -> None:
        """Draw ``copy`` from now on, starting from its current step (if the engine has started)."""
        self.copy = int(copy)
        self._final = None
        if started:
            self.reset(engine)

    def before_reset(self, engine: E, done: Iterable[int], **extra: object) -> None:
        """Copies ``done`` finished this step and are about to be reset (``extra``: passed to
        the renderer's snapshot of the drawn copy)."""
        if self.copy in {int(c) for c in done}:
            self._final = self.renderer.snapshot(engine, self.copy, **extra)

    def after_step(self, engine: E) -> None:
        """The step (and the resets of finished copies) is done."""
        r = self.renderer
        snap = r.snapshot(engine, self.copy)
        if self._final is not None:
            self.episode.finish(self._final, snap, r.scene(engine, self.copy))
            self._final = None
        else:
            self.episode.append(snap)

    def image(self) -> np.ndarray | None:
        """The frame of the drawn copy's current step (``None`` before the first reset)."""
        return self.episode.draw(self.renderer.draw, self.size)


# ------------------------------------------------------------------ every copy (trajectory records)
RENDER_MODULES: dict[str, str] = {
    "hlynr/Intercept-v0": "hlynr.envs.intercept.render",
    "hlynr/Swarm-v0": "hlynr.envs.swarm.render",
    "hlynr/ATC-v0": "hlynr.envs.atc.render",
}
"""The renderer module of each env id that has one (its ``RENDERER``, snapshot and scene types)."""


def renderer_module(env_id: str) -> Any | None:
    """The imported renderer module of ``env_id`` (``None`` for an env without one)."""
    name = RENDER_MODULES.get(env_id)
    return None if name is None else importlib.import_module(name)


class CopySnapshots(Generic[E, S, C]):
    """The snapshots of *every* env copy of a batched VecEnv, step by step (for trajectory
    records: the same records a renderer draws, so a record can be drawn without re-simulating).

    A VecEnv that offers ``watch_copies(watcher)`` calls :meth:`reset` after resetting every copy,
    :meth:`before_reset` with the copies that finished a step (before it resets them; ``extra``
    holds per-copy arrays, e.g. the termination codes) and :meth:`after_step` once the step and
    the resets are done. After each call, ``current[c]`` is the state of copy ``c`` after the
    step (for a copy that finished in it: its final state, ``ended[c]`` set) and ``scenes[c]``
    the scene of the episode that state belongs to; ``first[c]`` holds the first state of the
    episode a finished copy started. ``wanted`` (a bool mask, default every copy) limits the
    copies read, so copies nobody records cost nothing.
    """

    def __init__(self, renderer: Renderer[E, S, C], n_copies: int) -> None:
        self.renderer = renderer
        self.n_copies = int(n_copies)
        self.current: list[S | None] = [None] * self.n_copies
        self.scenes: list[C | None] = [None] * self.n_copies
        self.ended = np.zeros(self.n_copies, dtype=bool)
        self.first: dict[int, S] = {}
        self.wanted: np.ndarray | None = None
        self._final: dict[int, S] = {}
        self._next_scene: dict[int, C] = {}

    def _copies(self) -> list[int]:
        if self.wanted is None:
            return list(range(self.n_copies))
        return np.flatnonzero(self.wanted).tolist()

    def reset(self, engine: E) -> None:
        """Every copy was reset: each starts a new episode."""
        r = self.renderer
        self.ended[:] = False
        self.first, self._final, self._next_scene = {}, {}, {}
        for c in range(self.n_copies):
            self.current[c] = r.snapshot(engine, c)
            self.scenes[c] = r.scene(engine, c)

    def before_reset(self, engine: E, done: Iterable[int], **extra: Any) -> None:
        """Copies ``done`` finished this step (``extra``: arrays indexed by copy)."""
        wanted = self.wanted
        for c in (int(c) for c in done):
            if wanted is None or wanted[c]:
                self._final[c] = self.renderer.snapshot(engine, c, **{k: v[c] for k, v in extra.items()})

    def after_step(self, engine: E) -> None:
        """The step (and the resets of finished copies) is done."""
        r = self.renderer
        for c in self._next_scene:  # copies that started an episode in the previous step
            self.scenes[c] = self._next_scene[c]
        self._next_scene, self.first = {}, {}
        self.ended[:] = False
        for c in self._copies():
            final = self._final.pop(c, None)
            if final is None:
                self.current[c] = r.snapshot(engine, c)
            else:
                self.current[c] = final
                self.ended[c] = True
                self.first[c] = r.snapshot(engine, c)
                self._next_scene[c] = r.scene(engine, c)
        self._final.clear()
