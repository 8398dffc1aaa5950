"""hlynr's PPO against SB3's PPO on the batched intercept env: update alone and end to end.

Both run in the same process with the hyperparameters of ``configs/intercept/ppo_standard.yaml``
(``hlynr/Intercept-v0``, scenario ``standard``, radar with a CV filter, 64 batched copies, frame
stack 4, ``VecNormalize``, MLP 64x64 tanh, ``n_steps`` 64, 5 epochs, one torch thread):

* **update**: milliseconds of one ``train()`` on the same rollout (collected once, copied to
  both models, whose weights start equal), per batch size, alternating SB3 and hlynr call by
  call; the median of the rounds, by wall clock and by CPU time of this process
  (``time.process_time``, which other processes on a loaded machine inflate less);
* **end to end**: env steps/s of ``learn()`` (rollouts and updates), each model on its own copy
  of the env, interleaved one rollout and update at a time so that load from other processes
  hits both alike.

Each line prints SB3's figure, hlynr's and their ratio (SB3's time over hlynr's). The logged
losses of the first update on the shared rollout are compared as a check.

    python benchmarks/bench_ppo.py                    # default run, under 2 minutes
    python benchmarks/bench_ppo.py --rounds 3 --e2e-rollouts 2 --batch-sizes 1024
    python benchmarks/bench_ppo.py --arch 256 --batch-sizes 1024 --e2e-rollouts 0   # ATC's width
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from typing import Any

import numpy as np
import stable_baselines3
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecFrameStack, VecMonitor, VecNormalize

from hlynr.algos.ppo import PPO
from hlynr.envs.intercept import BatchedInterceptVecEnv

N_ENVS, N_STEPS, N_EPOCHS = 64, 64, 5
LOSSES = ("train/policy_gradient_loss", "train/value_loss", "train/entropy_loss", "train/approx_kl",
          "train/clip_fraction", "train/loss")


def make_env(seed: int) -> Any:
    venv = BatchedInterceptVecEnv(N_ENVS, seed=seed, scenario="standard", sensor={"mode": "radar", "filter": "cv"})
    return VecNormalize(VecFrameStack(VecMonitor(venv), 4))


ARCH = [64]  # hidden width of the two layers (--arch)


def make(cls: type, batch_size: int, seed: int = 0) -> Any:
    model = cls("MlpPolicy", make_env(seed), n_steps=N_STEPS, batch_size=batch_size, n_epochs=N_EPOCHS,
                learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, clip_range=0.2, ent_coef=0.0, seed=seed,
                device="cpu", policy_kwargs=dict(net_arch=ARCH * 2, activation_fn=th.nn.Tanh, log_std_init=-1.0))
    model.set_logger(configure(None, []))
    return model


class _NoCallback(BaseCallback):
    def _on_step(self) -> bool:
        return True


def update_times(batch_size: int, rounds: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """``train()`` wall and CPU seconds of SB3's and hlynr's PPO on one shared rollout, per round."""
    ref, ours = make(stable_baselines3.PPO, batch_size), make(PPO, batch_size)
    ours.policy.load_state_dict(ref.policy.state_dict())
    ref._setup_learn(N_ENVS * N_STEPS, None)
    callback = _NoCallback()
    callback.init_callback(ref)
    ref.collect_rollouts(ref.env, callback, ref.rollout_buffer, n_rollout_steps=N_STEPS)
    rollout = ref.rollout_buffer
    times: dict[Any, list[tuple[float, float]]] = {ref: [], ours: []}
    first: dict[Any, dict[str, float]] = {}
    for _ in range(rounds + 1):  # the first round warms up, untimed
        for model in (ref, ours):
            model.rollout_buffer = copy.deepcopy(rollout)
            np.random.seed(1)
            th.manual_seed(1)
            wall, cpu = time.perf_counter(), time.process_time()
            model.train()
            times[model].append((time.perf_counter() - wall, time.process_time() - cpu))
            first.setdefault(model, {k: float(model.logger.name_to_value[k]) for k in LOSSES})
    worst = max(abs(first[ours][k] - first[ref][k]) / max(abs(first[ref][k]), 1e-8) for k in LOSSES)
    print(f"  batch {batch_size}: first update's logged losses, largest relative difference {worst:.1e}")
    for model in (ref, ours):
        model.env.close()
    return times[ref][1:], times[ours][1:]


def end_to_end(rollouts: int) -> tuple[float, float]:
    """Env steps/s of ``learn()`` for SB3's and hlynr's PPO (batch 1024), interleaved rollout by rollout."""
    models = [make(stable_baselines3.PPO, 1024), make(PPO, 1024)]
    steps = N_ENVS * N_STEPS
    elapsed = [0.0, 0.0]
    for i in range(rollouts + 1):  # the first rollout and update warm up, untimed
        for k, model in enumerate(models):
            start = time.perf_counter()
            model.learn(steps, reset_num_timesteps=i == 0)
            if i:
                elapsed[k] += time.perf_counter() - start
    for model in models:
        model.env.close()
    return rollouts * steps / elapsed[0], rollouts * steps / elapsed[1]


def main() -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="timed train() calls per model and batch size")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 256, 64])
    ap.add_argument("--arch", type=int, default=64, help="hidden width of the MLP's two layers")
    ap.add_argument("--e2e-rollouts", type=int, default=6, help="timed rollouts+updates per model (0: skip)")
    args = ap.parse_args()
    th.set_num_threads(1)
    ARCH[0] = args.arch
    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}  torch threads: 1")
    print(f"hlynr/Intercept-v0 standard, {N_ENVS} batched envs, frame stack 4, VecNormalize, "
          f"MLP {args.arch}x{args.arch} tanh, n_steps {N_STEPS}, {N_EPOCHS} epochs")
    rows = []
    for batch_size in args.batch_sizes:
        ref, ours = update_times(batch_size, args.rounds)
        rows.append((batch_size, ref, ours))
    print(f"\n{'train() of one rollout':<24} {'SB3 ms':>14} {'hlynr ms':>14} {'ratio':>13}")
    print(f"{'(median, wall / cpu)':<24}")
    for batch_size, ref, ours in rows:
        ref_w, ref_c = (statistics.median(t[j] for t in ref) * 1e3 for j in (0, 1))
        our_w, our_c = (statistics.median(t[j] for t in ours) * 1e3 for j in (0, 1))
        print(f"{f'batch {batch_size}':<24} {ref_w:>6.1f} / {ref_c:>5.1f} {our_w:>6.1f} / {our_c:>5.1f} "
              f"{ref_w / our_w:>5.2f}x / {ref_c / our_c:.2f}x")
    if args.e2e_rollouts:
        ref_sps, our_sps = end_to_end(args.e2e_rollouts)
        print(f"\nend to end, batch 1024, {args.e2e_rollouts} x {N_ENVS * N_STEPS} steps each: "
              f"SB3 {ref_sps:,.0f} steps/s, hlynr {our_sps:,.0f} steps/s, ratio {our_sps / ref_sps:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
