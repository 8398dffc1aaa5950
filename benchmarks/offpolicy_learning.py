"""Learning curves of hlynr's SAC, TD3 and TQC against SB3's and sb3-contrib's on Pendulum-v1.

Each implementation trains from the same seeds with the same hyperparameters (those of
``configs/classic/pendulum_sac.yaml``: learning rate 1e-3, batch 256, gamma 0.98, [64, 64]
networks, one gradient step per env step; TD3 with Gaussian action noise of 0.1) and is scored
every ``--every`` steps on ``--episodes`` deterministic episodes of a separately seeded env. The
two implementations start from identical weights and draws, but float32 rounding differs after
the first update and chaotic dynamics amplify it, so their curves are not expected to be
identical, only to agree within the spread between seeds. The last column is Welch's t statistic
of the difference of the means at each evaluation (|t| below about 2: within seed noise).

    python benchmarks/offpolicy_learning.py                           # SAC, TD3, TQC; 3 seeds; 20k steps
    python benchmarks/offpolicy_learning.py --algos SAC --steps 8000 --every 2000
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np
import sb3_contrib
import stable_baselines3
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.noise import NormalActionNoise

from hlynr.algos.offpolicy import SAC, TD3, TQC

PAIRS = {"SAC": (stable_baselines3.SAC, SAC), "TD3": (stable_baselines3.TD3, TD3), "TQC": (sb3_contrib.TQC, TQC)}
HYPERPARAMS = dict(learning_rate=1e-3, buffer_size=50_000, learning_starts=1000, batch_size=256, gamma=0.98,
                   train_freq=1, gradient_steps=1)


class Scores(BaseCallback):
    """Mean deterministic return every ``every`` steps, on an env seeded the same for every run."""

    def __init__(self, every: int, episodes: int, seed: int) -> None:
        super().__init__()
        self.every, self.episodes, self.seed = every, episodes, seed
        self.scores: list[float] = []

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            env = Monitor(gym.make("Pendulum-v1"))
            env.reset(seed=10_000 + self.seed)
            mean, _ = evaluate_policy(self.model, env, n_eval_episodes=self.episodes, deterministic=True)
            self.scores.append(float(mean))
        return True


def train(cls: type, name: str, seed: int, steps: int, every: int, episodes: int) -> tuple[list[float], float]:
    kwargs: dict[str, Any] = {**HYPERPARAMS, "policy_kwargs": {"net_arch": [64, 64]}}
    if name == "TD3":
        kwargs["action_noise"] = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))
    model = cls("MlpPolicy", gym.make("Pendulum-v1"), seed=seed, device="cpu", **kwargs)
    scores = Scores(every, episodes, seed)
    start = time.perf_counter()
    model.learn(steps, callback=scores)
    return scores.scores, time.perf_counter() - start


def sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def welch(a: list[float], b: list[float]) -> float:
    var = statistics.variance(a) / len(a) + statistics.variance(b) / len(b) if len(a) > 1 else 0.0
    return (statistics.mean(b) - statistics.mean(a)) / math.sqrt(var) if var > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=2_000)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    th.set_num_threads(1)
    for name in args.algos:
        curves: dict[str, list[list[float]]] = {"sb3": [], "hlynr": []}
        seconds = {"sb3": 0.0, "hlynr": 0.0}
        for seed in args.seeds:
            for label, cls in zip(("sb3", "hlynr"), PAIRS[name]):
                scores, took = train(cls, name, seed, args.steps, args.every, args.episodes)
                curves[label].append(scores)
                seconds[label] += took
        print(f"{name} on Pendulum-v1, seeds {args.seeds}: mean deterministic return (sd over seeds)")
        print(f"{'steps':>7} {'SB3':>16} {'hlynr':>16} {'Welch t':>8}")
        for i in range(len(curves["sb3"][0])):
            a = [c[i] for c in curves["sb3"]]
            b = [c[i] for c in curves["hlynr"]]
            print(f"{(i + 1) * args.every:>7} {statistics.mean(a):>8.0f} ({sd(a):>5.0f}) "
                  f"{statistics.mean(b):>8.0f} ({sd(b):>5.0f}) {welch(a, b):>8.2f}")
        print(f"wall time: SB3 {seconds['sb3']:.0f} s, hlynr {seconds['hlynr']:.0f} s\n", flush=True)


if __name__ == "__main__":
    main()
