#!/usr/bin/env python
"""Draw the pictures of the env pages: ``python benchmarks/make_doc_images.py [--out docs/images]``.

Each picture is one frame of an env built with ``render_mode="rgb_array"``, from a seeded episode
flown by the env's scripted baseline, saved as a palette PNG:

* ``intercept.png``: ``hlynr/Intercept-v0`` (standard scenario, radar + Kalman filter), the
  ``pn`` baseline, the final step (closest approach and miss distance marked);
* ``swarm.png``: ``hlynr/Swarm-v0`` at the intermediate stage, ``swarm_intercept_point``, the
  step where the target is intercepted;
* ``atc.png``: ``hlynr/ATC-v0`` with 20 aircraft of random sector traffic, ``mvp``, the step of
  six seeded episodes that shows every separation state, with the most aircraft in a conflict.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import hlynr  # noqa: F401  (registers the built-in envs and baselines)
from hlynr.envs.atc import ATCEnv
from hlynr.envs.intercept import InterceptEnv
from hlynr.envs.intercept.env import action_space, observation_space
from hlynr.envs.swarm import SwarmInterceptEnv
from hlynr.registries import BASELINES


def _baseline(name: str, env: object, agent: str | None = None) -> object:
    entry = BASELINES.get(name)
    obs_space = env.observation_space(agent) if agent else observation_space()  # type: ignore[attr-defined]
    act_space = env.action_space(agent) if agent else action_space()  # type: ignore[attr-defined]
    return entry.factory(obs_space, act_space, entry.params())


def intercept_frame(seed: int = 4) -> np.ndarray:
    """The final frame of the first intercept of the ``pn`` baseline from episode ``seed`` on."""
    env = InterceptEnv(render_mode="rgb_array")
    policy = _baseline("pn", env)
    for s in range(seed, seed + 50):
        obs, _ = env.reset(seed=s)
        info: dict = {}
        while not info:
            act, _ = policy.predict(obs[None])  # type: ignore[attr-defined]
            obs, _, _, _, info = env.step(act[0])
        if info["is_success"]:
            break
    frame = env.render()
    assert frame is not None
    return frame


def swarm_frame(seed: int = 0) -> np.ndarray:
    """The intercept frame of the first intercepted episode of ``swarm_intercept_point``."""
    env = SwarmInterceptEnv(stage="intermediate", render_mode="rgb_array")
    policy = _baseline("swarm_intercept_point", env, "interceptor_0")
    for s in range(seed, seed + 50):
        obs, _ = env.reset(seed=s)
        while env.agents:
            act, _ = policy.predict(np.stack([obs[a] for a in env.possible_agents]))  # type: ignore[attr-defined]
            obs, _, _, _, info = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
        if info["interceptor_0"]["is_success"]:
            break
    frame = env.render()
    assert frame is not None
    return frame


def atc_frame(seeds: range = range(1, 7)) -> np.ndarray:
    """The frame of ``mvp`` episodes that shows the most: aircraft in every separation state
    (separated, conflict, loss of separation), then the most aircraft in a conflict."""
    env = ATCEnv(scenario="random", max_aircraft=20, n_aircraft=20, k_intruders=5, render_mode="rgb_array")
    policy = _baseline("mvp", env, "aircraft_0")
    best: tuple[int, np.ndarray] | None = None
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        while env.agents:
            act, _ = policy.predict(np.stack([obs[a] for a in env.possible_agents]))  # type: ignore[attr-defined]
            obs, *_ = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
            assert env._episode is not None
            states = env._episode.steps[-1].states()[env._episode.steps[-1].flying]
            score = 1000 * len(set(states.tolist())) + int((states > 0).sum())
            if best is None or score > best[0]:
                frame = env.render()
                assert frame is not None
                best = (score, frame)
    assert best is not None
    return best[1]


def save(frame: np.ndarray, path: Path) -> None:
    """A palette PNG (the frames use few colours; anti-aliased text keeps its look in 256)."""
    Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "images"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, make in (("intercept", intercept_frame), ("swarm", swarm_frame), ("atc", atc_frame)):
        path = out / f"{name}.png"
        save(make(), path)
        print(f"{path}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
