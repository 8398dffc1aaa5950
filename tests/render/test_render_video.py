"""SB3's VecVideoRecorder and Gymnasium's RecordVideo write readable videos of every env, unchanged."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecVideoRecorder

from hlynr.envs.atc import make_batched_atc
from hlynr.envs.intercept import make_batched
from hlynr.envs.swarm import make_batched_swarm

imageio = pytest.importorskip("imageio")
pytest.importorskip("moviepy")

LENGTH = 12


def _frames(path: Path) -> list[np.ndarray]:
    with imageio.get_reader(str(path)) as reader:
        return [np.asarray(f) for f in reader]


@pytest.mark.parametrize("make", [
    lambda: make_batched(2, seed=0, render_mode="rgb_array"),
    lambda: make_batched_swarm(2, seed=0, render_mode="rgb_array", stage="intermediate"),
    lambda: make_batched_atc(2, seed=0, render_mode="rgb_array", scenario="random", max_aircraft=6,
                             n_aircraft=6, max_steps=8),  # episodes end inside the video
], ids=["intercept", "swarm", "atc"])
def test_vec_video_recorder_writes_a_readable_video(make, tmp_path: Path) -> None:
    venv = VecVideoRecorder(make(), str(tmp_path), record_video_trigger=lambda step: step == 0,
                            video_length=LENGTH, name_prefix="hlynr")
    venv.reset()
    for _ in range(LENGTH + 2):
        venv.step(np.zeros((venv.num_envs, 2), dtype=np.float32))
    venv.close()
    (video,) = tmp_path.glob("hlynr-step-0-to-step-*.mp4")
    frames = _frames(video)
    assert len(frames) == LENGTH + 1  # the reset frame and one per step
    assert frames[0].shape == (480, 640, 3) and frames[0].std() > 1.0  # a picture, not a blank


def test_gymnasium_record_video(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    env = gym.wrappers.RecordVideo(gym.make("hlynr/Intercept-v0", render_mode="rgb_array"), str(folder),
                                   episode_trigger=lambda ep: ep == 0, name_prefix="intercept")
    env.reset(seed=0)
    steps = 0
    done = False
    while not done:
        _, _, term, trunc, _ = env.step(np.zeros(2, dtype=np.float32))
        steps += 1
        done = term or trunc
    env.close()
    (video,) = folder.glob("intercept-episode-0.mp4")
    assert len(_frames(video)) == steps + 1
