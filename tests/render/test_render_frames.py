"""Frames of every env and batched VecEnv: shape, dtype, the same pictures from the single env and
copy 0 of a batch, the final step of an episode, and no drawing work without a render mode."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo.test import render_test
from pettingzoo.utils.conversions import parallel_to_aec

from hlynr.envs.atc import ATCEnv, make_batched_atc
from hlynr.envs.intercept import BatchedInterceptVecEnv, InterceptEnv
from hlynr.envs.swarm import SwarmInterceptEnv, make_batched_swarm

H, W = 480, 640
ATC_KW = dict(scenario="random", max_aircraft=8, n_aircraft=8, k_intruders=3, max_steps=25)
SWARM_KW = dict(stage="intermediate", max_steps=40)


def _is_frame(img: object) -> bool:
    return isinstance(img, np.ndarray) and img.shape == (H, W, 3) and img.dtype == np.uint8


def _parallel_episode(env, steps: int, seed: int) -> list[np.ndarray]:
    """Zero actions for up to ``steps`` steps; the frame after the reset and after every step."""
    env.reset(seed=seed)
    frames = [env.render()]
    for _ in range(steps):
        if not env.agents:
            break
        env.step({a: np.zeros(2, dtype=np.float32) for a in env.agents})
        frames.append(env.render())
    return frames


def test_intercept_env_frames_and_metadata() -> None:
    env = gym.make("hlynr/Intercept-v0", render_mode="rgb_array")
    assert env.metadata["render_modes"] == ["rgb_array"] and env.metadata["render_fps"] == 20.0
    env.reset(seed=0)
    assert _is_frame(env.render())
    for _ in range(3):
        env.step(env.action_space.sample())
        assert _is_frame(env.render())
    small = InterceptEnv(render_mode="rgb_array", control_rate=10.0, radar_rate=10.0)
    small.render_size = (320, 240)
    small.reset(seed=1)
    assert small.render().shape == (240, 320, 3) and small.metadata["render_fps"] == 10.0


@pytest.mark.parametrize("make", [lambda **k: SwarmInterceptEnv(**SWARM_KW, **k), lambda **k: ATCEnv(**ATC_KW, **k)],
                         ids=["swarm", "atc"])
def test_parallel_env_frames(make) -> None:
    env = make(render_mode="rgb_array")
    assert env.metadata["render_modes"] == ["rgb_array"] and env.metadata["render_fps"] > 0
    assert all(_is_frame(f) for f in _parallel_episode(env, 5, seed=3))


@pytest.mark.parametrize("make", [lambda **k: SwarmInterceptEnv(**SWARM_KW, **k), lambda **k: ATCEnv(**ATC_KW, **k)],
                         ids=["swarm", "atc"])
def test_pettingzoo_render_test(make) -> None:
    with pytest.warns(UserWarning, match="render_mode"):  # render_test first builds with "human"
        render_test(lambda render_mode=None: parallel_to_aec(make(render_mode=render_mode)))


def test_no_render_mode_keeps_nothing() -> None:
    envs = [InterceptEnv(), SwarmInterceptEnv(**SWARM_KW), ATCEnv(**ATC_KW)]
    envs[0].reset(seed=0)
    envs[0].step(np.zeros(2))
    for env in envs[1:]:
        _parallel_episode(env, 2, seed=0)
    for env in envs:
        assert env.render_mode is None and env._episode is None and env._draw is None
        assert env.render() is None
    venvs = [BatchedInterceptVecEnv(2, seed=0), make_batched_swarm(2, seed=0, **SWARM_KW),
             make_batched_atc(2, seed=0, **ATC_KW)]
    for venv in venvs:
        venv.reset()
        venv.step(np.zeros((venv.num_envs, 2), dtype=np.float32))
        assert venv._frames is None and venv.get_images() == [None] * venv.num_envs
        venv.close()


def test_no_render_mode_imports_no_drawing_code() -> None:
    code = (
        "import sys, numpy as np\n"
        "from hlynr.envs.intercept import InterceptEnv, make_batched\n"
        "from hlynr.envs.swarm import SwarmInterceptEnv, make_batched_swarm\n"
        "from hlynr.envs.atc import ATCEnv, make_batched_atc\n"
        "e = InterceptEnv(); e.reset(seed=0); e.step(np.zeros(2))\n"
        "for env in (SwarmInterceptEnv(), ATCEnv()):\n"
        "    env.reset(seed=0); env.step({a: np.zeros(2) for a in env.agents})\n"
        "for v in (make_batched(2, seed=0), make_batched_swarm(2, seed=0), make_batched_atc(2, seed=0)):\n"
        "    v.reset(); v.step(np.zeros((v.num_envs, 2)))\n"
        "bad = [m for m in sys.modules if m == 'hlynr.envs.drawing' or m.endswith('.render')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_intercept_batch_copy_draws_the_single_env_and_its_final_step() -> None:
    """Copy 0 of a batch seeded s is the single env seeded s: same frames, and in the step where
    the episode ends the batch shows the final state (closest approach), not the next episode."""
    seed = 5
    env = InterceptEnv(render_mode="rgb_array")
    env.reset(seed=seed)
    venv = BatchedInterceptVecEnv(2, seed=seed, render_mode="rgb_array")
    assert venv.metadata["render_fps"] == 20.0 and venv.render_mode == "rgb_array"
    venv.reset()
    np.testing.assert_array_equal(venv.render(), env.render())
    for k in range(1000):
        _, _, term, trunc, _ = env.step(np.zeros(2))
        _, _, dones, _ = venv.step(np.zeros((2, 2)))
        assert bool(dones[0]) == (term or trunc)
        if k % 25 == 0 or dones[0]:
            (img,) = venv.get_images()
            np.testing.assert_array_equal(img, env.render())
        if dones[0]:
            break
    assert env._episode.steps[-1].reason  # the final frame is the end of the episode
    venv.step(np.zeros((2, 2)))  # the next episode starts
    assert len(venv._frames.episode.steps) == 2 and not venv._frames.episode.steps[-1].reason
    venv.close()


@pytest.mark.parametrize("kind", ["swarm", "atc"])
def test_rows_batch_copy_draws_the_parallel_env(kind: str) -> None:
    seed = 7
    if kind == "swarm":
        env, venv = (SwarmInterceptEnv(**SWARM_KW, render_mode="rgb_array"),
                     make_batched_swarm(2, seed=seed, render_mode="rgb_array", **SWARM_KW))
        assert venv.metadata["render_fps"] == pytest.approx(10.0)
    else:
        env, venv = (ATCEnv(**ATC_KW, render_mode="rgb_array"),
                     make_batched_atc(2, seed=seed, render_mode="rgb_array", **ATC_KW))
        assert venv.metadata["render_fps"] == pytest.approx(6.0)
    frames = _parallel_episode(env, 1000, seed)
    venv.reset()
    got = [venv.render()]
    rows = venv.num_envs
    for _ in range(len(frames) - 1):
        _, _, dones, _ = venv.step(np.zeros((rows, 2), dtype=np.float32))
        got.append(venv.get_images()[0])
    assert dones[0]  # the batch's episode ended in the same step, and its last frame is the end
    for a, b in zip(got, frames):
        np.testing.assert_array_equal(a, b)
    venv.close()


def test_render_copy_selects_another_copy() -> None:
    seed = 11
    venv = make_batched_atc(3, seed=seed, render_mode="rgb_array", **ATC_KW)
    venv.reset()
    venv.render_copy = 2
    env = ATCEnv(**ATC_KW, render_mode="rgb_array")
    frames = _parallel_episode(env, 3, seed + 2)
    np.testing.assert_array_equal(venv.render(), frames[0])
    for f in frames[1:]:
        venv.step(np.zeros((venv.num_envs, 2), dtype=np.float32))
        np.testing.assert_array_equal(venv.render(), f)
    with pytest.raises(ValueError, match="render_copy"):
        venv.render_copy = 3
    ivenv = BatchedInterceptVecEnv(2, seed=0, render_mode="rgb_array")
    with pytest.raises(ValueError, match="render_copy"):
        ivenv.render_copy = 2


def test_unknown_render_mode_warns_and_draws_nothing() -> None:
    with pytest.warns(UserWarning, match="render_mode"):
        env = InterceptEnv(render_mode="human")
    env.reset(seed=0)
    assert env.render() is None and env._episode is None


def test_sharded_rows_batch_draws_a_copy_of_its_own_process() -> None:
    """With worker processes the drawn copy is one this process steps (the first share)."""
    seed = 4
    env = SwarmInterceptEnv(**SWARM_KW, render_mode="rgb_array")
    frames = _parallel_episode(env, 3, seed)
    venv = make_batched_swarm(2, seed=seed, workers=2, render_mode="rgb_array", **SWARM_KW)
    try:
        venv.reset()
        np.testing.assert_array_equal(venv.render(), frames[0])
        for f in frames[1:]:
            venv.step(np.zeros((venv.num_envs, 2), dtype=np.float32))
            np.testing.assert_array_equal(venv.render(), f)
        with pytest.raises(ValueError, match="this process"):
            venv.render_copy = 1  # stepped in the worker
    finally:
        venv.close()
