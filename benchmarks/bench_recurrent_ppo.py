"""Steps/s of hlynr's RecurrentPPO vs sb3-contrib's RecurrentPPO (and SB3 PPO as a reference).

All three run in the same process on the same env and hyperparameters (Pendulum-v1, 8 envs,
DummyVecEnv, 1 torch thread, sb3-contrib's default RecurrentPPO hyperparameters, LSTM sizes 64
and 256), interleaved one rollout+update at a time so that load from other processes on a shared
machine hits all three alike. For each algorithm it
reports end-to-end steps/s and training-phase steps/s (time spent inside ``train()`` only), and
checks that hlynr's and sb3-contrib's logged losses agree after every update.

    python benchmarks/bench_recurrent_ppo.py          # 8 timed rollouts per algorithm and size
    python benchmarks/bench_recurrent_ppo.py --quick  # 2 timed rollouts, a smoke check
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch as th
from sb3_contrib import RecurrentPPO as Sb3RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from hlynr.algos.recurrent_ppo import RecurrentPPO

LOSS_KEYS = (
    "train/policy_gradient_loss",
    "train/value_loss",
    "train/entropy_loss",
    "train/approx_kl",
)
#: Update 0 runs on identical data from identical weights, so only the LSTM's summation order
#: differs (~1e-7 per step over 80 gradient steps). Later updates see slightly different
#: rollouts; the differences grow to ~1e-3 after 10-15 updates, as any change of summation
#: order would.
MATCH_RTOL = 1e-4


@dataclass
class Run:
    """One algorithm being benchmarked: its model, accumulated timings and per-update losses."""

    name: str
    model: BaseAlgorithm
    total_s: float = 0.0
    train_s: float = 0.0
    steps: int = 0
    losses: list[dict[str, float]] = field(default_factory=list)
    rng_state: tuple = ()

    @property
    def sps(self) -> float:
        """End-to-end environment steps per second."""
        return self.steps / self.total_s

    @property
    def train_sps(self) -> float:
        """Steps per second of the training phase (``train()``) alone."""
        return self.steps / self.train_s

    @property
    def fallbacks(self) -> int:
        """hlynr's count of LSTM calls that needed the per-step loop (0 for the others)."""
        return int(getattr(self.model, "n_sequence_fallbacks", 0))


def save_rng() -> tuple:
    """The global random states SB3 draws from (python, NumPy, torch)."""
    return random.getstate(), np.random.get_state(), th.get_rng_state()


def restore_rng(state: tuple) -> None:
    """Undo :func:`save_rng`: each run keeps its own random stream while being interleaved."""
    random.setstate(state[0])
    np.random.set_state(state[1])
    th.set_rng_state(state[2])


def learn_rollout(run: Run, steps: int, first: bool) -> None:
    """One ``learn`` call on ``run`` with its own random stream."""
    restore_rng(run.rng_state)
    run.model.learn(steps, reset_num_timesteps=first)
    run.rng_state = save_rng()


def make_run(
    name: str, algo: type[BaseAlgorithm], policy: str, hidden: int, args: argparse.Namespace
) -> Run:
    """Build ``algo`` on its own Pendulum VecEnv and wrap ``train()`` to time it and keep losses."""
    env = make_vec_env("Pendulum-v1", n_envs=args.n_envs, seed=args.seed, vec_env_cls=DummyVecEnv)
    kwargs: dict = dict(
        n_steps=args.n_steps, batch_size=args.batch_size, n_epochs=args.n_epochs, seed=args.seed
    )
    if policy != "MlpPolicy":
        kwargs["policy_kwargs"] = dict(lstm_hidden_size=hidden)
    run = Run(name, algo(policy, env, device="cpu", **kwargs))
    run.rng_state = save_rng()
    original_train = run.model.train

    def timed_train() -> None:
        start = time.perf_counter()
        original_train()
        run.train_s += time.perf_counter() - start
        run.losses.append({k: float(run.model.logger.name_to_value[k]) for k in LOSS_KEYS})

    run.model.train = timed_train  # type: ignore[method-assign]
    return run


def bench(hidden: int, rounds: int, args: argparse.Namespace) -> None:
    """Interleave the three algorithms rollout by rollout (robust to load changes) and print."""
    runs = [
        make_run("hlynr RecurrentPPO", RecurrentPPO, "MlpLstmPolicy", hidden, args),
        make_run("sb3_contrib.RecurrentPPO", Sb3RecurrentPPO, "MlpLstmPolicy", hidden, args),
        make_run("SB3 PPO (MLP)", PPO, "MlpPolicy", hidden, args),
    ]
    rollout = args.n_envs * args.n_steps
    for run in runs:  # warm-up rollout + update, not timed
        learn_rollout(run, rollout, first=True)
        run.train_s = 0.0  # its losses are kept: update 0 starts from identical data and weights
    for _ in range(rounds):
        for run in runs:
            start = time.perf_counter()
            learn_rollout(run, rollout, first=False)
            run.total_s += time.perf_counter() - start
            run.steps += rollout
    hlynr, sb3, _ = runs
    print(
        f"\nPendulum-v1, {args.n_envs} envs (DummyVecEnv), n_steps={args.n_steps}, "
        f"batch_size={args.batch_size}, n_epochs={args.n_epochs}, lstm_hidden_size={hidden}, "
        f"torch threads=1, {rounds * rollout} timed steps each (interleaved rollout by rollout)"
    )
    header = (
        f"{'algorithm':<26} {'steps/s':>8} {'train steps/s':>14} {'vs sb3-contrib':>15} "
        f"{'train vs sb3-contrib':>21}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        print(
            f"{run.name:<26} {run.sps:>8.0f} {run.train_sps:>14.0f} {run.sps / sb3.sps:>14.1f}x "
            f"{run.train_sps / sb3.train_sps:>20.1f}x"
        )
    a = np.array([[d[k] for k in LOSS_KEYS] for d in hlynr.losses])
    b = np.array([[d[k] for k in LOSS_KEYS] for d in sb3.losses])
    rel = np.max(np.abs(a - b) / (np.abs(b) + 1e-8), axis=1)  # per update, worst of the four losses
    match = bool(rel[0] <= MATCH_RTOL)
    names = ", ".join(k.split("/")[1] for k in LOSS_KEYS)
    print(f"max relative difference of the losses ({names}) vs sb3-contrib, by update from 0:")
    print("  " + " ".join(f"{r:.0e}" for r in rel))
    print(
        f"update 0 (same rollout, same initial weights) matches within {MATCH_RTOL:g}: "
        f"{'yes' if match else 'NO'}; later updates drift as float32 rounding differences feed "
        f"back through the rollouts. "
        f"hlynr step-loop fallbacks: {hlynr.fallbacks}"
    )


def main() -> None:
    """Parse arguments and benchmark each requested LSTM size."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run: 2 timed rollouts per algorithm"
    )
    parser.add_argument(
        "--rounds", type=int, default=8, help="timed rollouts per algorithm (interleaved)"
    )
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--n-steps", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-epochs", type=int, default=10)
    parser.add_argument(
        "--lstm-hidden-size",
        type=int,
        nargs="+",
        default=[64, 256],
        help="one table per size (256 = sb3-contrib default)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)
    rounds = 2 if args.quick else args.rounds
    for hidden in args.lstm_hidden_size:
        bench(hidden, rounds, args)


if __name__ == "__main__":
    main()
