#!/usr/bin/env python
"""Speed of the env renderers (``render_mode="rgb_array"``) at 640x480, on one core.

``python benchmarks/bench_render.py [--seconds S] [--no-video]`` prints, for ``hlynr/Intercept-v0``,
``hlynr/Swarm-v0`` (5 interceptors) and ``hlynr/ATC-v0`` with 8 and 20 aircraft (random sector
traffic):

* ``frames/s``: ``draw_frame`` of the last step of a played episode (its whole history drawn as
  paths), Pillow's ``ImageDraw`` as the envs use it;
* ``env steps/s``: the same env stepping without a render mode (the reference: how many frames a
  second a video of every step would need to keep up with the simulation), and the ratio;
* for ATC, ``matplotlib Agg``: the same picture (sector, grid, tracks, routes, exits, protected
  zones, vectors, markers, labels, legend, text) drawn by matplotlib's Agg canvas into an array,
  figure reused, and the ratio Pillow / matplotlib.

Then the time to write a 300-step video of 20 aircraft: drawing the 300 frames, and encoding them
to H.264 MP4 with imageio-ffmpeg and with moviepy (what SB3's ``VecVideoRecorder`` and
Gymnasium's ``RecordVideo`` use). Run it alone on the machine (``OMP_NUM_THREADS=1``); the
numbers are wall-clock times of this process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import hlynr  # noqa: F401  (registers the built-in envs)
from hlynr.envs.atc import ATCEnv
from hlynr.envs.atc import render as atc_render
from hlynr.envs.atc.mvp import MVPParams, make_mvp
from hlynr.envs.atc.units import FT, NM, heading_vector
from hlynr.envs.intercept import InterceptEnv
from hlynr.envs.intercept import render as intercept_render
from hlynr.envs.swarm import SwarmInterceptEnv
from hlynr.envs.swarm import render as swarm_render
from hlynr.envs.swarm.baselines import InterceptPointPolicy

SIZE = (640, 480)


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls of ``fn`` per second over about ``seconds`` (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


# ---------------------------------------------------------------- played episodes
def atc_kwargs(n: int) -> dict[str, Any]:
    return {"scenario": "random", "max_aircraft": n, "n_aircraft": n, "k_intruders": min(n - 1, 5),
            "max_steps": 300}


def play_atc(n: int, steps: int, seed: int = 1) -> ATCEnv:
    """An ATC env with ``render_mode`` after ``steps`` steps of the MVP resolver (or its episode end)."""
    env = ATCEnv(render_mode="rgb_array", **atc_kwargs(n))
    policy = make_mvp(env.observation_space("aircraft_0"), env.action_space("aircraft_0"),
                      MVPParams.model_validate({})).act
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        if not env.agents:
            break
        act = policy(np.stack([obs[a] for a in env.possible_agents]))
        obs, *_ = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
    return env


def play_swarm(steps: int, seed: int = 2) -> SwarmInterceptEnv:
    env = SwarmInterceptEnv(stage="intermediate", render_mode="rgb_array")
    policy = InterceptPointPolicy()
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        if not env.agents:
            break
        act = policy.act(np.stack([obs[a] for a in env.possible_agents]))
        obs, *_ = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
    return env


def play_intercept(steps: int, seed: int = 3) -> InterceptEnv:
    env = InterceptEnv(render_mode="rgb_array")
    env.reset(seed=seed)
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(np.zeros(2))
        if term or trunc:
            break
    return env


def recorded(env: Any) -> tuple[list[Any], Any]:
    """The snapshots and the scene an env built with ``render_mode`` kept of its episode."""
    assert env._episode is not None
    return list(env._episode.steps), env._episode.scene


def env_step_rate(make: Callable[[], Any], act: Callable[[Any], Any], seconds: float) -> float:
    """Steps/s of an env built without a render mode (resets counted in)."""
    env = make()
    state: dict[str, Any] = {"obs": None}

    def reset() -> None:
        state["obs"] = env.reset(seed=0)[0]

    reset()

    def step() -> None:
        out = env.step(act(env))
        done = (not env.agents) if hasattr(env, "agents") else (out[2] or out[3])
        if done:
            reset()

    return rate(step, seconds)


# ---------------------------------------------------------------- matplotlib reference
class MatplotlibATC:
    """The ATC frame drawn with matplotlib's Agg canvas (figure reused), for comparison."""

    def __init__(self, size: tuple[int, int] = SIZE) -> None:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.01, 0.01, 0.98, 0.92))

    def draw(self, steps: Sequence[atc_render.ATCSnapshot], scene: atc_render.ATCScene) -> np.ndarray:
        from matplotlib.patches import Circle

        ax, cur = self.ax, steps[-1]
        ax.clear()
        ax.set_aspect("equal")
        ax.set_xlim(scene.lo[0], scene.hi[0])
        ax.set_ylim(scene.lo[1], scene.hi[1])
        ax.set_xticks(np.arange(-60, 61, 10) * NM)
        ax.set_yticks(np.arange(-60, 61, 10) * NM)
        ax.grid(True, color="0.9")
        ax.tick_params(labelbottom=False, labelleft=False)
        ax.add_patch(Circle((0, 0), scene.sector_radius, fill=False, color="0.6", lw=2))
        flying = np.flatnonzero(cur.flying)
        colors = np.array(["#1e963c", "#eb9600", "#d71919"])[cur.states()]
        track = np.array([s.pos for s in steps])
        vec = heading_vector(cur.heading) * (cur.speed * atc_render.VECTOR_S)[:, None]
        for i in flying:
            ax.plot([cur.pos[i, 0], cur.exit[i, 0]], [cur.pos[i, 1], cur.exit[i, 1]], color="0.85", lw=1)
            ax.plot(*cur.exit[i], marker="s", mfc="none", color="0.4")
            ax.text(cur.exit[i, 0], cur.exit[i, 1], str(i), color="0.4", fontsize=8)
            ax.plot(track[:, i, 0], track[:, i, 1], color="0.75", lw=1)
            ax.add_patch(Circle(cur.pos[i], 0.5 * scene.pz_radius, fill=False, color=colors[i]))
            ax.plot([cur.pos[i, 0], cur.pos[i, 0] + vec[i, 0]], [cur.pos[i, 1], cur.pos[i, 1] + vec[i, 1]],
                    color=colors[i], lw=2)
            ax.plot(*cur.pos[i], marker="o", color=colors[i], ms=5)
            ax.text(cur.pos[i, 0], cur.pos[i, 1], f" {i} FL{cur.alt[i] / FT / 100:03.0f}", color=colors[i],
                    fontsize=8)
        ax.legend(handles=[Circle((0, 0), 1, color=c) for c in ("#1e963c", "#eb9600", "#d71919")],
                  labels=["separated", "conflict", "loss of separation"], loc="upper right", fontsize=8)
        ax.plot([scene.lo[0] + 2 * NM, scene.lo[0] + 22 * NM], [scene.lo[1] + 2 * NM] * 2, color="k", lw=2)
        ax.text(scene.lo[0] + 12 * NM, scene.lo[1] + 3 * NM, "20 NM", ha="center", fontsize=8)
        self.fig.suptitle(f"t = {cur.t:.0f} s   flying {len(flying)}", x=0.01, ha="left", fontsize=9)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


# ---------------------------------------------------------------- main
def bench_frames(seconds: float) -> list[tuple[str, float, float, float | None]]:
    rows: list[tuple[str, float, float, float | None]] = []
    zeros2 = np.zeros(2)

    env_i = play_intercept(120)
    steps_i, scene_i = recorded(env_i)
    fps = rate(lambda: intercept_render.draw_frame(steps_i, scene_i, SIZE), seconds)
    ref = env_step_rate(InterceptEnv, lambda e: zeros2, seconds)
    rows.append(("intercept (1 engagement)", fps, ref, None))

    env_s = play_swarm(80)
    steps_s, scene_s = recorded(env_s)
    fps = rate(lambda: swarm_render.draw_frame(steps_s, scene_s, SIZE), seconds)
    ref = env_step_rate(lambda: SwarmInterceptEnv(stage="intermediate"),
                        lambda e: {a: zeros2 for a in e.agents}, seconds)
    rows.append(("swarm (5 interceptors)", fps, ref, None))

    mpl = MatplotlibATC()
    for n in (8, 20):
        env_a = play_atc(n, 120)
        steps_a, scene_a = recorded(env_a)
        fps = rate(lambda s=steps_a, c=scene_a: atc_render.draw_frame(s, c, SIZE), seconds)
        ref = env_step_rate(lambda n=n: ATCEnv(**atc_kwargs(n)), lambda e: {a: zeros2 for a in e.agents}, seconds)
        mpl_fps = rate(lambda s=steps_a, c=scene_a: mpl.draw(s, c), seconds)
        rows.append((f"atc ({n} aircraft)", fps, ref, mpl_fps))
    return rows


def bench_video(n_steps: int = 300) -> dict[str, float]:
    """Seconds to draw and to encode a video of ``n_steps`` steps of 20 aircraft (the MVP resolver
    flying; a new episode starts where one ends, as in a recorded training run)."""
    env = ATCEnv(render_mode="rgb_array", **atc_kwargs(20))
    policy = make_mvp(env.observation_space("aircraft_0"), env.action_space("aircraft_0"),
                      MVPParams.model_validate({})).act
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=1)
    frames = [env.render()]
    for k in range(n_steps):
        if not env.agents:
            obs, _ = env.reset(seed=2 + k)
        act = policy(np.stack([obs[a] for a in env.possible_agents]))
        obs, *_ = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
        frames.append(env.render())
    out: dict[str, float] = {"frames": float(len(frames)), "simulate + draw": time.perf_counter() - t0}
    fps = env.metadata["render_fps"]
    with tempfile.TemporaryDirectory() as tmp:
        import imageio

        t0 = time.perf_counter()
        with imageio.get_writer(os.path.join(tmp, "a.mp4"), fps=fps, codec="libx264", macro_block_size=16) as w:
            for f in frames:
                w.append_data(f)
        out["encode (imageio-ffmpeg)"] = time.perf_counter() - t0
        out["size MB (imageio-ffmpeg)"] = os.path.getsize(os.path.join(tmp, "a.mp4")) / 1e6
        from moviepy.video.io.ImageSequenceClip import ImageSequenceClip

        t0 = time.perf_counter()
        ImageSequenceClip(frames, fps=fps).write_videofile(os.path.join(tmp, "b.mp4"), logger=None)
        out["encode (moviepy, as VecVideoRecorder)"] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--no-video", action="store_true", help="skip the 300-step video")
    args = parser.parse_args()
    print(f"renderers at {SIZE[0]}x{SIZE[1]}, one process ({os.environ.get('OMP_NUM_THREADS', '?')} OMP threads)")
    print(f"{'env':<26}{'frames/s':>10}{'env steps/s':>13}{'frames/step':>13}{'mpl Agg/s':>11}{'Pillow/mpl':>12}")
    for name, fps, ref, mpl in bench_frames(args.seconds):
        tail = f"{mpl:>11.1f}{fps / mpl:>11.1f}x" if mpl else f"{'-':>11}{'-':>12}"
        print(f"{name:<26}{fps:>10.1f}{ref:>13.0f}{fps / ref:>13.3f}{tail}")
    if not args.no_video:
        print("\n300-step video of 20 aircraft at 640x480:")
        for k, v in bench_video().items():
            unit = "" if k.startswith(("frames", "size")) else " s"
            print(f"  {k:<40}{v:8.2f}{unit}")


if __name__ == "__main__":
    main()
