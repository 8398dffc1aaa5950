#!/usr/bin/env python
"""What ``evaluate.py --trajectories`` and ``hlynr replay`` cost, on one core.

``python benchmarks/bench_replay.py [--repeats R] [--episodes N]`` prints, for scripted baselines
on ``hlynr/Intercept-v0`` (``pn``, 20 Hz, full-length engagements) and ``hlynr/ATC-v0`` (``mvp``,
8 aircraft of random sector traffic), evaluate.py's episodes per second without and with
``--trajectories`` (the same call evaluate.py makes, ``score_baseline`` on 8 envs, with the
recorder or without; "with" includes building and writing the ``.npz``), their ratio, and the
file's size. The two are run alternately ``R`` times and the best of each kept, so a load that
changes during the run touches both alike.

Then, for one recorded episode of each env, the replay: frames drawn per second from the record
(the env's renderer plus the panel's header) and the time to encode them to H.264 MP4
(imageio-ffmpeg) and to GIF (Pillow). Run it alone on the machine (``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import hlynr  # noqa: F401  (registers the built-in envs and baselines)
from hlynr.config import validate_config
from hlynr.evaluation import replay as draw
from hlynr.evaluation.recording import TrajectoryCollector
from hlynr.evaluation.scoring import ScoreSettings, score_baseline
from hlynr.evaluation.trajectories import Trajectories

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "intercept, pn": ({"id": "hlynr/Intercept-v0", "vectoriser": "batched"}, "pn"),
    "ATC 8 aircraft, mvp": ({"type": "pettingzoo", "id": "hlynr/ATC-v0", "vectoriser": "batched",
                             "kwargs": {"scenario": "random", "max_aircraft": 8, "n_aircraft": 8,
                                        "k_intruders": 3}}, "mvp"),
}


def config(env: dict[str, Any]) -> Any:
    return validate_config({"name": "bench", "total_timesteps": 1, "algo": {"name": "PPO"},
                            "env": {**env, "n_envs": 8}})


def plain(cfg: Any, baseline: str, episodes: int) -> float:
    """Seconds for ``episodes`` scored as evaluate.py scores them."""
    t0 = time.perf_counter()
    score_baseline(baseline, cfg, ScoreSettings(episodes, 0, True, 8))
    return time.perf_counter() - t0


def recorded(cfg: Any, baseline: str, episodes: int, path: Path) -> float:
    """Seconds for the same, recording every step and writing the trajectory file."""
    t0 = time.perf_counter()
    collect = TrajectoryCollector(cfg.env.id)
    score_baseline(baseline, cfg, ScoreSettings(episodes, 0, True, 8), record=collect.recorder)
    collect.add(f"baseline:{baseline}", {"kind": "baseline"})
    collect.trajectories(seed=0, episodes=episodes, deterministic=True, success_key="is_success").save(path)
    return time.perf_counter() - t0


def replay_speed(path: Path, folder: Path) -> tuple[float, int, float, float]:
    """Frames/s drawn from the record (episode 0), frames, seconds to encode MP4 and GIF."""
    traj = Trajectories.load(path)
    panel = draw.panel(traj, 0, 0)
    t0 = time.perf_counter()
    frames = list(draw.frames([panel]))
    fps = len(frames) / (time.perf_counter() - t0)
    times = []
    for fmt in ("mp4", "gif"):
        t0 = time.perf_counter()
        draw.write_video(iter(frames), folder / f"episode.{fmt}", 20.0)
        times.append(time.perf_counter() - t0)
    return fps, len(frames), times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternate runs of each; best kept")
    parser.add_argument("--episodes", type=int, default=48, help="episodes per run")
    args = parser.parse_args()
    print(f"{args.episodes} episodes on 8 envs, best of {args.repeats} alternate runs; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'case':<22} {'episodes/s':>11} {'--trajectories':>15} {'ratio':>7} {'file':>9}   "
          f"{'replay frames/s':>15} {'frames':>6} {'MP4 s':>6} {'GIF s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, (env, baseline) in CASES.items():
            cfg = config(env)
            path = folder / "t.npz"
            base, rec = [], []
            for _ in range(args.repeats):
                base.append(plain(cfg, baseline, args.episodes))
                rec.append(recorded(cfg, baseline, args.episodes, path))
            a, b = args.episodes / min(base), args.episodes / min(rec)
            fps, n, mp4, gif = replay_speed(path, folder)
            print(f"{name:<22} {a:>11.1f} {b:>15.1f} {b / a:>7.2f} {path.stat().st_size / 1e6:>7.1f}MB   "
                  f"{fps:>15.1f} {n:>6d} {mp4:>6.2f} {gif:>6.2f}")


if __name__ == "__main__":
    main()
