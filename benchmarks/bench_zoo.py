"""The RL Zoo's own hyperparameter files run through hlynr, next to the Zoo's published scores.

For every shipped Zoo file (``benchmarks/zoo_hyperparams/``: ``ppo.yml``, ``a2c.yml``, ``dqn.yml``,
``sac.yml``, ``td3.yml``, ``tqc.yml``, copied from rl_zoo3 2.9.2 with its MIT licence) and every
env among CartPole-v1, Pendulum-v1, MountainCarContinuous-v0 and Acrobot-v1 that the file has an
entry for, it trains ``train.py --zoo FILE --env ENV`` with the entry's ``n_timesteps`` over
three seeds, scores each final model on seeded deterministic episodes (with its frozen
normalisation statistics), and prints the mean +- std over all episodes of all seeds, the
per-seed means, and the Zoo's published figure (``benchmark.md`` of DLR-RM/rl-baselines3-zoo:
one trained agent, deterministic, about 150 000 evaluation steps).

    python benchmarks/bench_zoo.py                      # the Zoo's budgets, 3 seeds, 100 episodes
    python benchmarks/bench_zoo.py --quick              # 2 000 steps per run, 10 episodes
    python benchmarks/bench_zoo.py --only ppo/CartPole-v1 --seeds 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from hlynr.evaluation.scoring import ScoreSettings, score_model
from hlynr.evaluation.targets import ModelTarget
from hlynr.registries import RunStatus
from hlynr.training.runner import start_run
from hlynr.zoo import load_zoo

HYPERPARAMS = Path(__file__).resolve().parent / "zoo_hyperparams"
ENVS = ("CartPole-v1", "Pendulum-v1", "MountainCarContinuous-v0", "Acrobot-v1")

PUBLISHED: dict[tuple[str, str], tuple[float, float]] = {
    # (algo, env): (mean_reward, std_reward) from benchmark.md of
    # https://github.com/DLR-RM/rl-baselines3-zoo (commit 0088472b8cb622732bdbc4aa3d0d0abde86c67ed)
    ("ppo", "CartPole-v1"): (500.000, 0.000),
    ("ppo", "Pendulum-v1"): (-172.225, 104.159),
    ("ppo", "MountainCarContinuous-v0"): (88.343, 2.572),
    ("ppo", "Acrobot-v1"): (-73.506, 18.201),
    ("a2c", "CartPole-v1"): (500.000, 0.000),
    ("a2c", "Pendulum-v1"): (-162.965, 103.210),
    ("a2c", "MountainCarContinuous-v0"): (91.166, 0.255),
    ("a2c", "Acrobot-v1"): (-83.353, 17.213),
    ("dqn", "CartPole-v1"): (500.000, 0.000),
    ("dqn", "Acrobot-v1"): (-76.639, 11.752),
    ("sac", "Pendulum-v1"): (-156.995, 88.714),
    ("sac", "MountainCarContinuous-v0"): (94.679, 1.134),
    ("td3", "Pendulum-v1"): (-151.855, 90.227),
    ("td3", "MountainCarContinuous-v0"): (93.483, 0.075),
    ("tqc", "MountainCarContinuous-v0"): (63.641, 45.259),
    # tqc Pendulum-v1 has an entry in tqc.yml but no row in benchmark.md
}


def pairs(only: str | None) -> list[tuple[str, str]]:
    """``(algo, env)`` for every shipped file's entry among :data:`ENVS`."""
    out = []
    for algo in ("ppo", "a2c", "dqn", "sac", "td3", "tqc"):
        entries = yaml.safe_load((HYPERPARAMS / f"{algo}.yml").read_text())
        out += [(algo, env) for env in ENVS if env in entries]
    return [p for p in out if only is None or f"{p[0]}/{p[1]}" == only]


def run_pair(algo: str, env: str, seeds: int, budget: int | None, episodes: int,
             runs_dir: Path) -> tuple[list[float], list[float], int, float]:
    """Per-episode rewards over all seeds, per-seed means, timesteps per run, wall seconds."""
    rewards: list[float] = []
    means: list[float] = []
    t0 = time.perf_counter()
    steps = 0
    for seed in range(seeds):
        overrides = [f"seed={seed}", "torch_threads=1"]
        if budget is not None:
            overrides.append(f"total_timesteps={budget}")
        config = load_zoo(HYPERPARAMS / f"{algo}.yml", env, overrides=overrides).config
        steps = config.total_timesteps
        result = start_run(config, runs_dir=runs_dir)
        if result.status is not RunStatus.COMPLETED:  # interrupted (Ctrl+C, SIGTERM) or failed
            raise SystemExit(f"{algo}/{env} seed {seed}: run {result.status.value}: "
                             f"{result.reason} ({result.run_dir})")
        final = result.run_dir / "final"
        target = ModelTarget(f"{algo}/{env}/{seed}", final / "model.zip", final, config)
        summary = score_model(target, ScoreSettings(episodes=episodes, seed=10_000 * (seed + 1),
                                                    n_envs=1))
        episode_rewards = [e.reward for e in summary.episodes]
        rewards += episode_rewards
        means.append(float(np.mean(episode_rewards)))
    return rewards, means, steps, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 000 timesteps per run and 10 episodes: checks that it works")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=None, help="per seed (default 100)")
    parser.add_argument("--only", metavar="ALGO/ENV", help="one pair, e.g. ppo/CartPole-v1")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    budget = 2000 if args.quick else None
    episodes = args.episodes or (10 if args.quick else 100)
    todo = pairs(args.only)
    if not todo:
        parser.error(f"no shipped Zoo entry {args.only!r}")
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.runs_dir or Path(tmp)
        header = (f"{'algo':5} {'env':26} {'steps':>9} {'hlynr mean +- std':>20} "
                  f"{'per-seed means':>28} {'Zoo benchmark.md':>20} {'wall s':>7}")
        print(header)
        print("-" * len(header))
        for algo, env in todo:
            rewards, means, steps, wall = run_pair(algo, env, args.seeds, budget, episodes,
                                                   runs_dir)
            ours = f"{np.mean(rewards):.1f} +- {np.std(rewards):.1f}"
            seeds = ", ".join(f"{m:.1f}" for m in means)
            ref = PUBLISHED.get((algo, env))
            theirs = f"{ref[0]:.1f} +- {ref[1]:.1f}" if ref else "(not published)"
            print(f"{algo:5} {env:26} {steps:>9,} {ours:>20} {seeds:>28} {theirs:>20} "
                  f"{wall:>7.0f}", flush=True)
    if args.quick:
        print("\n--quick: 2 000 timesteps per run, far below the Zoo's budgets; the scores only "
              "show that every file runs, not what it reaches.")


if __name__ == "__main__":
    main()
