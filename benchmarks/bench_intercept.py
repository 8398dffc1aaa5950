"""Benchmark: hlynr/Intercept-v0 env steps/s, batched vs SB3 DummyVecEnv of single envs, and PPO.

    python benchmarks/bench_intercept.py            # full run (about 1-2 minutes)
    python benchmarks/bench_intercept.py --quick    # fewer steps

For 1, 64 and 1024 envs it steps the batched VecEnv with the ``radar_kalman`` wrapper (CV
filter, ``standard`` scenario, random actions, automatic resets included) and, in the same run,
the same scenario as SB3 ``DummyVecEnv`` over single ``InterceptEnv`` + ``RadarKalmanWrapper``,
and prints env-steps/s of both and their ratio. Then it measures end-to-end PPO steps/s
(batched env, 64 envs, frame stack 4, VecNormalize, MLP 64x64, one torch thread).
Targets: >= 1,000,000 env-steps/s at 1024 envs on 2 cores and >= 100x the DummyVecEnv path.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np


def _rate(venv: Any, n: int, seconds: float, max_steps: int) -> tuple[float, float]:
    """(wall-clock, process-CPU-time) env-steps/s of ``venv`` under random actions."""
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (64, n, 2)).astype(np.float32)
    venv.reset()
    for i in range(3):  # warm-up
        venv.step(acts[i % 64])
    steps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while steps < max_steps:
        venv.step(acts[steps % 64])
        steps += 1
        if time.perf_counter() - t0 > seconds:
            break
    return steps * n / (time.perf_counter() - t0), steps * n / max(time.process_time() - c0, 1e-9)


def main() -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-ppo", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.vec_env import DummyVecEnv

    from hlynr.envs.intercept import (
        BatchedInterceptVecEnv, InterceptEnv, RadarKalmanParams, RadarKalmanVecWrapper, RadarKalmanWrapper,
    )

    secs = 1.5 if args.quick else 4.0
    print(f"cores available: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}")
    print("env-steps/s by wall clock and by this process's CPU time (the CPU-time figure leaves out\n"
          "time spent waiting for a core; on a loaded machine both are lower than on an idle one)")
    print(f"{'envs':>6} {'batched wall':>14} {'batched cpu':>14} {'DummyVecEnv wall':>17} "
          f"{'DummyVecEnv cpu':>16} {'ratio wall':>11} {'ratio cpu':>10}")
    for n in (1, 64, 1024):
        batched = RadarKalmanVecWrapper(BatchedInterceptVecEnv(n, seed=0, scenario="standard"), RadarKalmanParams())
        bw, bc = _rate(batched, n, secs, 1_000_000)

        def make() -> Any:
            return RadarKalmanWrapper(InterceptEnv(scenario="standard"), RadarKalmanParams())

        dummy = DummyVecEnv([make for _ in range(n)])
        dummy.seed(0)
        dw, dc = _rate(dummy, n, secs, 1_000_000)
        print(f"{n:>6} {bw:>14,.0f} {bc:>14,.0f} {dw:>17,.0f} {dc:>16,.0f} {bw / dw:>10.1f}x {bc / dc:>9.1f}x",
              flush=True)

    if args.no_ppo:
        return
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecFrameStack, VecMonitor, VecNormalize

    venv: Any = RadarKalmanVecWrapper(BatchedInterceptVecEnv(64, seed=0, scenario="standard"), RadarKalmanParams())
    venv = VecNormalize(VecFrameStack(VecMonitor(venv), 4))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=1024, n_epochs=5, device="cpu", seed=0,
                policy_kwargs=dict(net_arch=[64, 64], activation_fn=torch.nn.Tanh))
    total = 40_960 if args.quick else 163_840
    t0, c0 = time.perf_counter(), time.process_time()
    model.learn(total)
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"PPO end-to-end on standard (64 batched envs, n_steps 64, 5 epochs, batch 1024): "
          f"{total / el:,.0f} steps/s wall, {total / cpu:,.0f} steps/s CPU time ({total} steps in {el:.1f} s)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
